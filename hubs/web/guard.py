"""What a route checks before its work: the hub (or widget) in the URL exists, who asks and may they,
the body they sent. ``Guard`` does the checks; ``checked`` runs them in front of a route."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from hubs.models import Conflict
from hubs.people.accounts import BadCredentials
from hubs.people.auth import CSRF_HEADER, SESSION_COOKIE, Identity, csrf_ok, permission
from hubs.web.common import MAX_BODY, BadRequest, Forbidden, Unauthorized, bad_text, header
from hubs.widgets.base import InvalidConfig

if TYPE_CHECKING:
    from hubs.directory.directory import Directory
    from hubs.people.accounts import Accounts

JSON_BODY = "json"  # any JSON value
OBJECT_BODY = "object"  # a JSON object (else 400 "The body must be a JSON object.")

# The action a write asks permission for: a name, or a function of the URL's values and the body.
Action = str | Callable[[Mapping[str, Any], Any], str]


class Guard:
    """Who is asking and whether they may: the accounts and the directory, asked the same way by every route."""

    def __init__(self, directory: Directory, accounts: Accounts):
        self.directory = directory
        self.accounts = accounts

    def target(self, args: Mapping[str, Any]) -> None:
        """404 unless the hub (and the widget) the URL names exist."""
        if "idx" in args:
            self.directory.widget(args["hub"], args["idx"])
        elif "hub" in args:
            self.directory.hub(args["hub"])

    async def identity(self, request) -> Identity:
        """Who is asking (401 for bad credentials)."""
        cookie = request.getCookie(SESSION_COOKIE)
        try:
            return await self.accounts.identify(header(request, "authorization"),
                                                cookie.decode("utf-8", "replace") if cookie else None)
        except BadCredentials as e:
            raise Unauthorized(str(e)) from None

    async def allowed(self, request, action: str, hub: str | None) -> Identity:
        """The identity, if it may do ``action`` on ``hub`` (else 401/403/409 with the reason)."""
        who = await self.identity(request)
        if who.signed_in and request.method != b"GET" and not csrf_ok(who, header(request, CSRF_HEADER)):
            raise Forbidden("This request lacks the page's CSRF token; reload the page and try again.")
        roles = self.directory.roles_of(hub, who.username) if hub is not None else frozenset()
        decision = permission(action, who, roles, self.directory.find_hub(hub) if hub else None)
        if not decision.allowed:
            if decision.status == 401:
                raise Unauthorized(decision.reason)
            if decision.status == 409:
                raise Conflict(decision.reason)
            raise Forbidden(decision.reason)
        return who


def read_body(request, shape: str = JSON_BODY) -> Any:
    """The request's JSON body (415, 413, 400 naming what is wrong; NUL or lone surrogates name the field)."""
    content_type = (header(request, "content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise BadRequest("Send the body as application/json.", 415)
    raw = request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise BadRequest(f"The body is larger than {MAX_BODY // 1024} KiB.", 413)
    try:
        body = json.loads(raw)
    except RecursionError:
        raise BadRequest("The body is nested too deeply.") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"The body is not valid JSON ({e}).") from None
    field = bad_text(body)
    if field is not None:
        field = field.removeprefix("config.")
        raise InvalidConfig({field: "must not contain NUL characters or unpaired surrogates"})
    if shape == OBJECT_BODY and not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
    return body


def checked(action: Action | None = None, *, body: str | None = None):
    """Run a route's checks before it, in the order that decides which error a bad request gets.

    1. The hub (and widget) in the URL exist, else 404.
    2. When ``action`` is a function of the URL's values and the body, the body is read now (it decides
       the action); the function may itself refuse (404 for an action that does not exist).
    3. The caller may do the action on the URL's hub (or, with no hub, at all): passed on as ``who``.
    4. The body, ``"json"`` (any JSON value) or ``"object"``: passed on as ``body``.

    With neither ``action`` nor ``body`` only the first check runs, and the route is called as it is
    (a plain function stays one: no coroutine on a read's hot path). The route's object holds the
    ``Guard`` in ``self.guard``.
    """

    def decorate(route: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(route)
        def preamble(self, request, **args: Any) -> Any:
            guard: Guard = self.guard
            guard.target(args)
            if action is None and body is None:
                return route(self, request, **args)
            return _admitted(route, self, guard, request, args)

        async def _admitted(route, part, guard: Guard, request, args: dict[str, Any]) -> Any:
            passed: dict[str, Any] = {}
            if body is not None and callable(action):
                passed["body"] = read_body(request, body)
            if action is not None:
                name = action(args, passed.get("body")) if callable(action) else action
                passed["who"] = await guard.allowed(request, name, args.get("hub"))
            if body is not None and "body" not in passed:
                passed["body"] = read_body(request, body)
            return await route(part, request, **args, **passed)

        return preamble

    return decorate
