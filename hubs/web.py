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

from hubs.cache import CacheUnavailable
from hubs.db.store import StoreUnavailable
from hubs.engine import HubsEngine
from hubs.models import NotFound
from hubs.render import make_environment
from hubs.sse import http_chunk, sse_frame
from hubs.widgets.base import InvalidConfig

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


def _json(request, value: Any, status: int = 200) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _wants_json(request) -> bool:
    path = request.path.decode("utf-8", "replace")
    accept = (request.getHeader("accept") or "").lower()
    return (path.endswith(("/json", "/config", "/events", "/more")) or path.startswith("/api/")
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

    def __init__(self, engine: HubsEngine, clock=None):
        self.engine = engine
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
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self.env.get_template("widget_page.html").render(
            hub=self.engine.hub(hub), payload=payload, html=Markup(payload["html"])).encode("utf-8")

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
        if plan.kind == "snapshot":
            listener.hold()
            d = defer.ensureDeferred(self._snapshot(hub, listener, hello))
            d.addErrback(lambda f: log.error("snapshot for %s failed: %s", hub, f.getTraceback()))
        else:
            request.write(hello())
        streams.add(hub, listener)

        def cleanup(_):
            listener.closed = True
            streams.remove(hub, listener)
            return None

        request.notifyFinish().addBoth(cleanup)
        # Never fires: Klein cancels it when the client goes away.
        return defer.Deferred(lambda d: None)

    async def _snapshot(self, hub: str, listener: StreamListener, hello) -> None:
        current = self.engine.streams.current_id()
        frames = [sse_frame(self.engine.layout_json(hub), event="layout", event_id=current)]
        for widget in self.engine.hub_widgets(hub):
            payload = await self.engine.payload(hub, widget.idx)
            frames.append(sse_frame(payload, event="widget", event_id=current))
        if listener.closed:
            return
        for frame in frames:
            listener.request.write(frame)
        listener.request.write(hello())
        listener.release()

    # ------------------------------------------------------------------ writes

    def _actor(self, request) -> str:
        token = self.engine.config.admin_token
        if token is None:
            raise Unauthorized("Writes are disabled: no hubs.admin_token is configured.")
        header = (request.getHeader("authorization") or "").strip()
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            raise Unauthorized("A valid 'Authorization: Bearer <token>' header is required.")
        return "admin"

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

    @app.route("/<hub>/<int:idx>/config", methods=["POST"])
    async def widget_config(self, request, hub, idx):
        actor = self._actor(request)
        self.engine.widget(hub, idx)
        body = self._body(request)
        widget = await self.engine.update_widget_config(hub, idx, body, actor)
        return _json(request, {"ok": True, "widget": widget.as_json(), "config": widget.config})

    @app.route("/<hub>/config", methods=["POST"])
    async def hub_config(self, request, hub):
        actor = self._actor(request)
        self.engine.hub(hub)
        body = self._body(request)
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object.")
        try:
            new = await self.engine.update_hub(hub, body, actor)
        except ValueError as e:
            raise InvalidConfig({"hub": str(e)}) from None
        return _json(request, {"ok": True, "hub": new.as_json()})
