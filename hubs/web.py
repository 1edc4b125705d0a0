"""The web site: a Klein app held by an object built with the engine.

Routes answer from the engine's in-process state. Domain errors become 4xx
with a clear body in one place (``_error``); anything else is logged and
answered with a generic 500.
"""

from __future__ import annotations

import hmac
import inspect
import json
import logging
import time
from pathlib import Path
from typing import Any

from klein import Klein
from markupsafe import Markup
from twisted.internet import defer, tcp
from twisted.web.static import File

from hubs.auth import (
    ANONYMOUS,
    CSRF_HEADER,
    SESSION_COOKIE,
    Identity,
    csrf_ok,
    hash_secret,
    new_secret,
    permission,
)
from hubs.cache import CacheUnavailable
from hubs.db.store import StoreUnavailable
from hubs.defaults import team_widgets
from hubs.engine import AccountTaken, HubsEngine
from hubs.http import ServiceError
from hubs.models import Conflict, FieldErrors, Hub, NotFound
from hubs.oidc import STATE_COOKIE, LoginFailed
from hubs.oidc import USERNAME as USERNAME_RE
from hubs.render import make_environment
from hubs.sse import http_chunk, sse_frame
from hubs.widgets.base import InvalidConfig
from hubs.widgets.base import username as validate_username

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
MAX_BODY = 64 * 1024


class BadRequest(ValueError):
    """The request itself is malformed (not JSON, too big, wrong type)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class Unauthorized(PermissionError):
    """No valid credentials for a write."""


class Forbidden(PermissionError):
    """Known visitor, not allowed (or no CSRF token)."""


class Unavailable(RuntimeError):
    """Something this request needs is not configured or not reachable."""


RESERVED_NAMES = frozenset({"api", "static", "login", "logout", "oidc", "healthz", "widgets", "favicon.ico"})


def _json(request, value: Any, status: int = 200) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _wants_json(request) -> bool:
    path = request.path.decode("utf-8", "replace")
    accept = (request.getHeader("accept") or "").lower()
    if request.method not in (b"GET", b"HEAD"):
        return True  # writes come from scripts and the page's fetch(): JSON errors
    return (path.endswith(("/json", "/events", "/more")) or path.startswith("/api/")
            or path == "/healthz" or ("application/json" in accept and "text/html" not in accept))


class StreamListener:
    """One open EventSource response.

    Frames can be held while a snapshot is built. On a plain HTTP/1.1 TCP
    connection whose buffer is empty, an event's chunk goes straight to the
    socket: one ``send`` instead of Request.write, a buffered write, an
    epoll registration and a second pass of the reactor (4x faster fan-out
    to thousands of streams). Anything left over is queued with Twisted as
    usual, so order is kept.
    """

    __slots__ = ("request", "held", "closed", "_transport", "_socket_send")

    def __init__(self, request):
        self.request = request
        self.held: list[bytes] | None = None
        self.closed = False
        self._transport = None
        self._socket_send = None

    def enable_direct_writes(self) -> None:
        """Call after the headers are written."""
        transport = getattr(self.request.channel, "transport", None)
        if getattr(self.request, "chunked", False) and isinstance(transport, tcp.Connection):
            self._transport = transport
            self._socket_send = transport.socket.send
            # Events that follow each other closely (one message redrawing three widgets) must not
            # wait for the client's delayed ACK of the first (Nagle): send each at once.
            transport.setTcpNoDelay(True)

    def write(self, data: bytes) -> None:
        self.send(data, http_chunk(data))

    def send(self, frame: bytes, chunk: bytes) -> None:
        if self.closed:
            return
        if self.held is not None:
            self.held.append(frame)
            return
        t = self._transport
        if t is None:
            self.request.write(frame)
            return
        if t.disconnecting or not t.connected:
            return
        if not t._tempDataBuffer and t.offset == len(t.dataBuffer):
            try:
                sent = self._socket_send(chunk)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                sent = 0  # Twisted's own write will find the dead connection and clean up
            if sent == len(chunk):
                return
            chunk = chunk[sent:]
        t.write(chunk)

    def hold(self) -> None:
        self.held = []

    def release(self) -> None:
        held, self.held = self.held or [], None
        for data in held:
            self.write(data)


class HubsWeb:
    """All HTTP routes of Hubs."""

    app = Klein()

    def __init__(self, engine: HubsEngine, clock=None, oidc=None):
        self.engine = engine
        self.oidc = oidc
        self.clock = clock if clock is not None else engine.clock
        self.env = make_environment()
        self.started = time.time()

    def resource(self):
        return self.app.resource()

    # ------------------------------------------------------------------ errors

    @app.handle_errors(NotFound)
    def _not_found(self, request, failure):
        return self._error(request, 404, "Not found", str(failure.value))

    @app.handle_errors(InvalidConfig)
    def _invalid(self, request, failure):
        return _json(request, {"error": "invalid configuration", "fields": failure.value.errors}, 400)

    @app.handle_errors(BadRequest)
    def _bad(self, request, failure):
        return self._error(request, failure.value.status, "Bad request", str(failure.value))

    @app.handle_errors(Unauthorized)
    def _unauthorized(self, request, failure):
        request.setHeader(b"www-authenticate", b'Bearer realm="hubs"')
        return self._error(request, 401, "Unauthorized", str(failure.value))

    @app.handle_errors(Forbidden)
    def _forbidden(self, request, failure):
        return self._error(request, 403, "Forbidden", str(failure.value))

    @app.handle_errors(Conflict)
    def _conflict(self, request, failure):
        current = failure.value.current
        body: dict[str, Any] = {"error": str(failure.value)}
        if current is not None and hasattr(current, "as_json"):
            body["current"] = current.as_json()
            if hasattr(current, "config"):
                body["current"].update(config=current.config, version=current.version)
        return _json(request, body, 409)

    @app.handle_errors(Unavailable)
    def _not_configured(self, request, failure):
        return self._error(request, 503, "Unavailable", str(failure.value))

    @app.handle_errors(StoreUnavailable)
    def _unavailable(self, request, failure):
        log.warning("database unavailable: %s", failure.value)
        request.setHeader(b"retry-after", b"2")
        return self._error(request, 503, "Service unavailable", "The database is unreachable; try again shortly.")

    @app.handle_errors(defer.CancelledError)
    def _cancelled(self, request, failure):
        return b""  # the client went away

    @app.handle_errors(Exception)
    def _crash(self, request, failure):
        log.error("error serving %s %s: %s", request.method.decode(), request.uri.decode("utf-8", "replace"),
                  failure.getTraceback())
        return self._error(request, 500, "Internal error", "Something went wrong on our side; it has been logged.")

    def _error(self, request, status: int, title: str, message: str) -> bytes:
        if _wants_json(request):
            return _json(request, {"error": message}, status)
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self.env.get_template("error.html").render(title=title, message=message, status=status).encode()

    # ------------------------------------------------------------------ pages

    @app.route("/", methods=["GET", "HEAD"])
    def index(self, request):
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self.engine.page_cache("", self._render_index)

    def _render_index(self) -> bytes:
        hubs = sorted(self.engine.hubs.values(), key=lambda h: h.name)
        teams = [h for h in hubs if not h.user_hub and not h.archived]
        people = [h for h in hubs if h.user_hub and not h.archived]
        archived = [h for h in hubs if h.archived]
        counts = {h.name: len(self.engine.layouts.get(h.name, ())) for h in hubs}
        return self.env.get_template("index.html").render(
            teams=teams, people=people, archived=archived, counts=counts).encode("utf-8")

    @app.route("/static/", branch=True)
    def static(self, request):
        return File(str(STATIC_DIR))

    @app.route("/healthz", methods=["GET"])
    async def healthz(self, request):
        checks: dict[str, Any] = {}
        start = time.perf_counter()
        try:
            await defer.ensureDeferred(self.engine.store.ping()).addTimeout(2, self.clock)
            checks["postgres"] = {"ok": True, "ms": round((time.perf_counter() - start) * 1000, 2)}
        except Exception as e:
            checks["postgres"] = {"ok": False, "error": type(e).__name__}
        start = time.perf_counter()
        try:
            self.engine.cache.ping()
            checks["memcached"] = {"ok": True, "ms": round((time.perf_counter() - start) * 1000, 2)}
        except CacheUnavailable as e:
            checks["memcached"] = {"ok": False, "error": str(e)}
        last = self.engine.last_message_at
        checks["bus"] = {"ok": bool(self.engine.bus.healthy()), "messages": self.engine.stats["messages"],
                         "last_message_age_s": None if last is None else round(time.time() - last, 1)}
        ok = all(c["ok"] for c in checks.values())
        fanout_streams, fanout_ms = self.engine.streams.last_fanout
        body = {"ok": ok, **checks, "streams": self.engine.streams.listener_count(),
                "last_fanout": {"streams": fanout_streams, "ms": round(fanout_ms, 2)},
                "hubs": len(self.engine.hubs), "widgets": len(self.engine.widgets),
                "uptime_s": round(time.time() - self.started, 1)}
        return _json(request, body, 200 if ok else 503)

    @app.route("/api/widgets", methods=["GET"])
    def catalogue(self, request):
        return _json(request, {"widgets": [spec.as_json() for spec in self.engine.registry.values()]})

    @app.route("/widgets/<plugin>/source", methods=["GET"])
    def widget_source(self, request, plugin):
        spec = self.engine.registry.get(plugin)
        if spec is None or not spec.source_file:
            raise NotFound(f"There is no widget called {plugin!r}.")
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        request.setHeader(b"x-content-type-options", b"nosniff")
        return inspect.getsource(spec.module).encode("utf-8")

    @app.route("/<hub>", methods=["GET", "HEAD"])
    def hub_page(self, request, hub):
        self.engine.hub(hub)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self.engine.page_cache(hub, lambda: self._render_hub(hub))

    def _render_hub(self, name: str) -> bytes:
        layout = self.engine.layout(name)
        return self.env.get_template("hub.html").render(
            hub=self.engine.hub(name), layout=layout, columns=layout["columns"],
            sse_retry=self.engine.config.sse_retry_ms).encode("utf-8")

    @app.route("/<hub>/json", methods=["GET"])
    def hub_json(self, request, hub):
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        return self.engine.layout_json(hub)

    @app.route("/<hub>/<int:idx>/json", methods=["GET"])
    def widget_json(self, request, hub, idx):
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        request.setHeader(b"cache-control", b"no-cache")
        warm = self.engine.warm_payload(hub, idx)  # the common case: no coroutine, no I/O
        if warm is not None:
            return warm
        return defer.ensureDeferred(self.engine.payload(hub, idx))

    @app.route("/<hub>/<int:idx>/config", methods=["GET"])
    def widget_config_get(self, request, hub, idx):
        """A widget's configuration, version and declared arguments (for the edit form)."""
        widget = self.engine.widget(hub, idx)
        spec = self.engine.registry.get(widget.plugin)
        request.setHeader(b"cache-control", b"no-store")
        return _json(request, {"idx": idx, "plugin": widget.plugin, "title": spec.title if spec else widget.plugin,
                               "config": widget.config, "version": widget.version,
                               "arguments": [a.as_json() for a in spec.arguments] if spec else []})

    @app.route("/<hub>/<int:idx>/more", methods=["GET"])
    async def widget_more(self, request, hub, idx):
        """The next page of a paged widget (activity): {"html", "cursor"}."""
        widget = self.engine.widget(hub, idx)
        spec = self.engine.registry.get(widget.plugin)
        if spec is None or spec.more is None:
            raise NotFound(f"Widget {idx} has no further pages.")
        cursor = (request.args.get(b"cursor") or [b""])[0].decode("utf-8", "replace")
        if not cursor or len(cursor) > 100:
            raise BadRequest("A 'cursor' from the previous page is required.")
        try:
            config = spec.validate(widget.config)
            page = await spec.more(self.engine.ctx, widget, cursor, **config)
        except ValueError as e:
            raise BadRequest(f"Cannot page this widget: {e}.") from None
        html = self.env.get_template(spec.more_template).render(**page)
        return _json(request, {"html": html, "cursor": page.get("cursor")})

    @app.route("/<hub>/<int:idx>", methods=["GET"])
    async def widget_page(self, request, hub, idx):
        payload = json.loads(await self.engine.payload(hub, idx))
        spec = self.engine.registry.get(payload["plugin"])
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self.env.get_template("widget_page.html").render(
            hub=self.engine.hub(hub), payload=payload, html=Markup(payload["html"]),
            title=spec.title if spec else payload["plugin"]).encode("utf-8")

    # ------------------------------------------------------------------ events

    @app.route("/<hub>/events", methods=["GET"])
    def events(self, request, hub):
        self.engine.hub(hub)
        streams = self.engine.streams
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"cache-control", b"no-cache")
        request.setHeader(b"x-accel-buffering", b"no")
        last_id = request.getHeader("last-event-id")
        if last_id is None:
            # Manual reconnects from the page pass it in the query string.
            arg = request.args.get(b"last_id")
            last_id = arg[0].decode("utf-8", "replace") if arg else None
        plan = streams.plan(hub, last_id)
        listener = StreamListener(request)
        request.write(b"retry: %d\n\n" % self.engine.config.sse_retry_ms)
        listener.enable_direct_writes()

        def hello() -> bytes:
            data = json.dumps({"hub": hub, "boot": streams.boot, "plan": plan.kind}).encode()
            return b"id: " + streams.current_id().encode() + b"\nevent: hello\ndata: " + data + b"\n\n"

        if plan.kind == "replay":
            for frame in streams.replay.since(hub, plan.after):
                request.write(frame)
        streams.add(hub, listener)

        def cleanup(_):
            listener.closed = True
            streams.remove(hub, listener)
            return None

        request.notifyFinish().addBoth(cleanup)
        if plan.kind == "snapshot":
            listener.hold()
            d = defer.ensureDeferred(self._snapshot(hub, listener, hello))
            d.addErrback(lambda f: log.error("snapshot for %s failed: %s", hub, f.getTraceback()))
        else:
            request.write(hello())
        # Never fires: Klein cancels it when the client goes away.
        return defer.Deferred(lambda d: None)

    async def _snapshot(self, hub: str, listener: StreamListener, hello) -> None:
        """Layout and every widget, then the live events held meanwhile. Never leaves the stream on hold."""
        try:
            current = self.engine.streams.current_id()
            frames = [sse_frame(self.engine.layout_json(hub), event="layout", event_id=current)]
            for widget in self.engine.hub_widgets(hub):
                try:
                    payload = await self.engine.payload(hub, widget.idx)
                except NotFound:
                    continue  # removed while the snapshot was built: the layout event says so
                frames.append(sse_frame(payload, event="widget", event_id=current))
        except Exception:
            log.exception("snapshot of %s failed; closing the stream so that the page reconnects", hub)
            listener.closed = True
            transport = getattr(listener.request.channel, "transport", None)
            if transport is not None:
                transport.abortConnection()  # the browser sees the stream drop and reconnects
            return
        if listener.closed:
            return
        for frame in frames:
            listener.request.write(frame)
        listener.request.write(hello())
        listener.release()

    # ------------------------------------------------------------------ identity

    async def identity(self, request) -> Identity:
        """Who is asking: a bearer token (API token, or the development admin token), else the session."""
        header = (request.getHeader("authorization") or "").strip()
        if header:
            scheme, _, value = header.partition(" ")
            value = value.strip()
            if scheme.lower() != "bearer" or not value:
                raise Unauthorized("Use 'Authorization: Bearer <token>'.")
            token = self.engine.config.admin_token
            if token is not None and hmac.compare_digest(value.encode(), token.encode()):
                return Identity(self.engine.config.admin_token_user, is_admin=True, via="admin-token")
            user = await self.engine.store.token_user(hash_secret(value))
            if user is None:
                raise Unauthorized("This API token is not valid (revoked, or never issued).")
            return Identity(user.username, self._is_admin(user), "token")
        cookie = request.getCookie(SESSION_COOKIE)
        if cookie:
            found = await self.engine.store.get_session(hash_secret(cookie.decode("utf-8", "replace")))
            if found is not None:
                user, csrf = found
                return Identity(user.username, self._is_admin(user), "session", csrf)
        return ANONYMOUS

    def _is_admin(self, user) -> bool:
        return user.is_admin or user.username in self.engine.config.admins

    async def _allowed(self, request, action: str, hub: str | None) -> Identity:
        """The identity, if it may do ``action`` on ``hub`` (else 401/403 with the reason)."""
        who = await self.identity(request)
        if who.signed_in and request.method != b"GET" and not csrf_ok(who, request.getHeader(CSRF_HEADER)):
            raise Forbidden("This request lacks the page's CSRF token; reload the page and try again.")
        roles = self.engine.roles_of(hub, who.username) if hub is not None else frozenset()
        decision = permission(action, who, roles, self.engine.hubs.get(hub) if hub else None)
        if not decision.allowed:
            if decision.status == 401:
                raise Unauthorized(decision.reason)
            if decision.status == 409:
                raise Conflict(decision.reason)
            raise Forbidden(decision.reason)
        return who

    @app.route("/api/me", methods=["GET"])
    async def me(self, request):
        """Who the page's visitor is, and what they may do on ``?hub=``."""
        request.setHeader(b"cache-control", b"no-store")
        who = await self.identity(request)
        hub = (request.args.get(b"hub") or [b""])[0].decode("utf-8", "replace")
        body: dict[str, Any] = {"username": who.username, "is_admin": who.is_admin, "via": who.via,
                                "login": self.oidc is not None}
        if who.via == "session":
            body["csrf"] = who.csrf
        if hub in self.engine.hubs:
            roles = self.engine.roles_of(hub, who.username)
            hub_record = self.engine.hubs[hub]
            body["hub"] = {"name": hub, "roles": sorted(roles),
                           "can_edit": permission("edit_hub", who, roles, hub_record).allowed,
                           "can_join": permission("join", who, roles, hub_record).allowed,
                           "version": hub_record.version}
        return _json(request, body)

    # ------------------------------------------------------------------ login

    @app.route("/login", methods=["GET"])
    async def login(self, request):
        if self.oidc is None:
            raise Unavailable("Logging in is not configured on this Hubs (see hubs.oidc.* in the README).")
        next_path = (request.args.get(b"next") or [b"/"])[0].decode("utf-8", "replace")
        try:
            url, state = await self.oidc.start(next_path)
        except (ServiceError, LoginFailed) as e:
            raise Unavailable(f"The login provider cannot be reached: {e}") from None
        request.addCookie(STATE_COOKIE, state.encode(), path=b"/oidc", httpOnly=True, max_age=b"600",
                          sameSite="lax", secure=self._secure_cookies())
        request.redirect(url.encode())
        return b""

    @app.route("/oidc/callback", methods=["GET"])
    async def oidc_callback(self, request):
        if self.oidc is None:
            raise NotFound("Logging in is not configured.")
        args = {k.decode(): v[0].decode("utf-8", "replace") for k, v in request.args.items()}
        if "error" in args:
            raise BadRequest(f"The login provider said: {args.get('error_description') or args['error']}.")
        try:
            login = self.oidc.read_state((request.getCookie(STATE_COOKIE) or b"").decode(), args.get("state"))
            claims = await self.oidc.finish(args.get("code", ""), login)
        except LoginFailed as e:
            raise BadRequest(str(e)) from None
        except ServiceError as e:
            raise Unavailable(f"The login provider cannot be reached: {e}") from None
        subject = f"{self.oidc.issuer} {claims.get('sub')}"
        try:
            user = await self.engine.sign_in(claims["username"], str(claims.get("name") or ""),
                                             str(claims.get("email") or ""), subject)
        except AccountTaken as e:
            raise Forbidden(str(e)) from None
        token, csrf = new_secret(), new_secret(16)
        days = self.engine.config.session_days
        await self.engine.store.create_session(hash_secret(token), user.username, csrf, time.time() + days * 86400)
        request.addCookie(SESSION_COOKIE, token.encode(), path=b"/", httpOnly=True, max_age=str(int(days * 86400)),
                          sameSite="lax", secure=self._secure_cookies())
        request.addCookie(STATE_COOKIE, b"", path=b"/oidc", max_age=b"0")
        request.redirect(login.next.encode())
        return b""

    @app.route("/logout", methods=["POST"])
    async def logout(self, request):
        who = await self.identity(request)
        if who.via == "session":
            if not csrf_ok(who, request.getHeader(CSRF_HEADER) or self._form_csrf(request)):
                raise Forbidden("This request lacks the page's CSRF token; reload the page and try again.")
            await self.engine.store.delete_session(hash_secret(request.getCookie(SESSION_COOKIE).decode()))
        request.addCookie(SESSION_COOKIE, b"", path=b"/", max_age=b"0", httpOnly=True, sameSite="lax")
        if _wants_json(request) or request.getHeader(CSRF_HEADER):
            return _json(request, {"ok": True})
        request.redirect(b"/")
        return b""

    def _secure_cookies(self) -> bool:
        """Cookies only over HTTPS when configured so, or when the site is reached over https."""
        config = self.engine.config
        return bool(config.cookie_secure or config.oidc_redirect_uri.startswith("https://"))

    @staticmethod
    def _form_csrf(request) -> str | None:
        value = request.args.get(b"csrf")
        return value[0].decode("utf-8", "replace") if value else None

    # ------------------------------------------------------------------ writes

    @staticmethod
    def _body(request) -> Any:
        content_type = (request.getHeader("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise BadRequest("Send the body as application/json.", 415)
        raw = request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise BadRequest(f"The body is larger than {MAX_BODY // 1024} KiB.", 413)
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise BadRequest(f"The body is not valid JSON ({e}).") from None

    @staticmethod
    def _version(body: dict) -> int | None:
        version = body.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise InvalidConfig({"version": "must be the whole-number version you edited"})
        return version

    @app.route("/<hub>/<int:idx>/config", methods=["POST"])
    async def widget_config(self, request, hub, idx):
        """Body: ``{"config": {...}, "version": N}`` (or, for scripts, the config object alone)."""
        self.engine.widget(hub, idx)
        who = await self._allowed(request, "edit_widget", hub)
        body = self._body(request)
        version = None
        if isinstance(body, dict) and isinstance(body.get("config"), dict) and set(body) <= {"config", "version"}:
            version = self._version(body)
            body = body["config"]
        widget = await self.engine.update_widget_config(hub, idx, body, who.username, version)
        return _json(request, {"ok": True, "widget": widget.as_json(), "config": widget.config})

    @app.route("/<hub>/config", methods=["POST"])
    async def hub_config(self, request, hub):
        """Body: hub fields (``summary``, ``left_width``, ``allow_join``; ``archived`` for admins) and ``version``."""
        self.engine.hub(hub)
        body = self._body(request)
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object.")
        fields = {k: v for k, v in body.items() if k != "version"}
        who = await self._allowed(request, "archive_hub" if "archived" in fields else "edit_hub", hub)
        try:
            new = await self.engine.update_hub(hub, fields, who.username, self._version(body))
        except FieldErrors as e:
            raise InvalidConfig(e.errors) from None
        return _json(request, {"ok": True, "hub": new.as_json()})

    @app.route("/<hub>/widgets", methods=["POST"])
    async def add_widget(self, request, hub):
        """Body: ``{"plugin": ..., "column": "left"|"right", "config": {...}}`` → 201."""
        self.engine.hub(hub)
        who = await self._allowed(request, "add_widget", hub)
        body = self._body(request)
        if not isinstance(body, dict) or not isinstance(body.get("plugin"), str):
            raise InvalidConfig({"plugin": "name the widget to add"})
        widget = await self.engine.add_widget(hub, body["plugin"], body.get("column", "left"),
                                              body.get("config") or {}, who.username)
        return _json(request, {"ok": True, "widget": widget.as_json()}, 201)

    @app.route("/<hub>/<int:idx>/move", methods=["POST"])
    async def move_widget(self, request, hub, idx):
        """Body: ``{"column": "left"|"right", "position": N}``."""
        self.engine.widget(hub, idx)
        who = await self._allowed(request, "move_widget", hub)
        body = self._body(request)
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object.")
        widget = await self.engine.move_widget(hub, idx, body.get("column"), body.get("position"), who.username)
        return _json(request, {"ok": True, "widget": widget.as_json()})

    @app.route("/<hub>/<int:idx>/delete", methods=["POST"])
    async def remove_widget(self, request, hub, idx):
        self.engine.widget(hub, idx)
        who = await self._allowed(request, "remove_widget", hub)
        widget = await self.engine.remove_widget(hub, idx, who.username)
        return _json(request, {"ok": True, "widget": widget.as_json()})

    ROLE_ACTIONS = {"subscribe": ("subscriber", True), "unsubscribe": ("subscriber", False),
                    "star": ("stargazer", True), "unstar": ("stargazer", False),
                    "join": ("member", True), "leave": ("member", False)}

    @app.route("/api/hub/<hub>/<action>", methods=["POST"])
    async def hub_action(self, request, hub, action):
        """The signed-in visitor subscribes, unsubscribes, stars, unstars, joins or leaves a hub."""
        self.engine.hub(hub)
        if action not in self.ROLE_ACTIONS:
            raise NotFound(f"There is no hub action called {action!r}.")
        who = await self._allowed(request, action, hub)
        role, present = self.ROLE_ACTIONS[action]
        changed = await self.engine.set_role(hub, who.username, role, present, who.username)
        return _json(request, {"ok": True, "changed": changed, "role": role, "present": present})

    @app.route("/api/hub/<hub>/owners", methods=["POST"])
    async def hub_owners(self, request, hub):
        """Site admins make or unmake owners: ``{"username": ..., "owner": true|false}``."""
        self.engine.hub(hub)
        who = await self._allowed(request, "set_owner", hub)
        body = self._body(request)
        try:
            username = validate_username(body.get("username") if isinstance(body, dict) else None)
        except ValueError as e:
            raise InvalidConfig({"username": str(e)}) from None
        present = body.get("owner", True)
        if not isinstance(present, bool):
            raise InvalidConfig({"owner": "must be true or false"})
        if await self.engine.store.get_user(username) is None:
            raise InvalidConfig({"username": f"{username!r} has never logged in to Hubs"})
        changed = await self.engine.set_role(hub, username, "owner", present, who.username)
        return _json(request, {"ok": True, "changed": changed})

    @app.route("/api/hubs", methods=["POST"])
    async def create_hub(self, request):
        """Site admins create team hubs: ``{"name": ..., "summary": ..., "owners": [...]}`` → 201."""
        who = await self._allowed(request, "create_hub", None)
        body = self._body(request)
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object.")
        errors = {}
        name = body.get("name")
        if not isinstance(name, str) or not USERNAME_RE.match(name) or name in RESERVED_NAMES:
            errors["name"] = "must be lowercase letters, digits, - _ . and not a reserved word"
        summary = body.get("summary", "")
        if not isinstance(summary, str) or len(summary) > 300:
            errors["summary"] = "must be text of at most 300 characters"
        owners = body.get("owners", [])
        if not isinstance(owners, list) or not all(isinstance(o, str) and USERNAME_RE.match(o) for o in owners):
            errors["owners"] = "must be a list of usernames"
        if errors:
            raise InvalidConfig(errors)
        for owner in owners:
            if await self.engine.store.get_user(owner) is None:
                raise InvalidConfig({"owners": f"{owner!r} has never logged in to Hubs"})
        hub = Hub(name, summary, user_hub=False)
        await self.engine.create_hub(hub, team_widgets(name, self.engine.config.fedocal_url, summary), owners,
                                     who.username)
        return _json(request, {"ok": True, "hub": hub.as_json()}, 201)
