"""Writing routes: every change an owner, a member or a site admin makes, checked then handed to the editor."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from hubs.directory.defaults import team_widgets
from hubs.models import FieldErrors, Hub, NotFound
from hubs.people.oidc import USERNAME as USERNAME_RE
from hubs.widgets.base import InvalidConfig
from hubs.widgets.base import username as validate_username

if TYPE_CHECKING:
    pass

from hubs.web.common import (
    MAX_BODY,
    RESERVED_NAMES,
    BadRequest,
    _json,
    app,
    bad_text,
    header,
)

log = logging.getLogger(__name__)


class EditRoutes:
    """Each write: check the hub exists, who asks and may they, read the body, call the editor."""

    @staticmethod
    def _body(request) -> Any:
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
        return body

    @staticmethod
    def _version(body: dict) -> int | None:
        version = body.get("version")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise InvalidConfig({"version": "must be the whole-number version you edited"})
        return version

    @app.route("/<hub>/<int:idx>/config", methods=["POST"])
    async def widget_config(self, request, hub, idx):
        """Body: ``{"config": {...}, "version": N}`` (or, for scripts, the config object alone)."""
        self.directory.widget(hub, idx)
        who = await self._allowed(request, "edit_widget", hub)
        body = self._body(request)
        version = None
        if isinstance(body, dict) and isinstance(body.get("config"), dict) and set(body) <= {"config", "version"}:
            version = self._version(body)
            body = body["config"]
        widget = await self.editor.update_widget_config(hub, idx, body, who.username, version)
        return _json(request, {"ok": True, "widget": widget.as_json(), "config": widget.config})

    @app.route("/<hub>/config", methods=["POST"])
    async def hub_config(self, request, hub):
        """Body: hub fields (``summary``, ``left_width``, ``allow_join``; ``archived`` for admins) and ``version``."""
        self.directory.hub(hub)
        body = self._body(request)
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object.")
        fields = {k: v for k, v in body.items() if k != "version"}
        who = await self._allowed(request, "archive_hub" if "archived" in fields else "edit_hub", hub)
        try:
            new = await self.editor.update_hub(hub, fields, who.username, self._version(body))
        except FieldErrors as e:
            raise InvalidConfig(e.errors) from None
        return _json(request, {"ok": True, "hub": new.as_json()})

    @app.route("/<hub>/widgets", methods=["POST"])
    async def add_widget(self, request, hub):
        """Body: ``{"plugin": ..., "column": "left"|"right", "config": {...}}`` → 201."""
        self.directory.hub(hub)
        who = await self._allowed(request, "add_widget", hub)
        body = self._body(request)
        if not isinstance(body, dict) or not isinstance(body.get("plugin"), str):
            raise InvalidConfig({"plugin": "name the widget to add"})
        config = body.get("config")
        if config is not None and not isinstance(config, dict):
            raise InvalidConfig({"config": "must be a JSON object (or left out for the defaults)"})
        widget = await self.editor.add_widget(hub, body["plugin"], body.get("column", "left"), config or {},
                                              who.username)
        return _json(request, {"ok": True, "widget": widget.as_json()}, 201)

    @app.route("/<hub>/<int:idx>/move", methods=["POST"])
    async def move_widget(self, request, hub, idx):
        """Body: ``{"column": "left"|"right", "position": N}``."""
        self.directory.widget(hub, idx)
        who = await self._allowed(request, "move_widget", hub)
        body = self._body(request)
        if not isinstance(body, dict):
            raise BadRequest("The body must be a JSON object.")
        widget = await self.editor.move_widget(hub, idx, body.get("column"), body.get("position"), who.username)
        return _json(request, {"ok": True, "widget": widget.as_json()})

    @app.route("/<hub>/<int:idx>/delete", methods=["POST"])
    async def remove_widget(self, request, hub, idx):
        self.directory.widget(hub, idx)
        who = await self._allowed(request, "remove_widget", hub)
        widget = await self.editor.remove_widget(hub, idx, who.username)
        return _json(request, {"ok": True, "widget": widget.as_json()})

    ROLE_ACTIONS = {"subscribe": ("subscriber", True), "unsubscribe": ("subscriber", False),
                    "star": ("stargazer", True), "unstar": ("stargazer", False),
                    "join": ("member", True), "leave": ("member", False)}

    @app.route("/api/hub/<hub>/<action>", methods=["POST"])
    async def hub_action(self, request, hub, action):
        """The signed-in visitor subscribes, unsubscribes, stars, unstars, joins or leaves a hub."""
        self.directory.hub(hub)
        if action not in self.ROLE_ACTIONS:
            raise NotFound(f"There is no hub action called {action!r}.")
        who = await self._allowed(request, action, hub)
        role, present = self.ROLE_ACTIONS[action]
        changed = await self.editor.set_role(hub, who.username, role, present, who.username)
        return _json(request, {"ok": True, "changed": changed, "role": role, "present": present})

    @app.route("/api/hub/<hub>/owners", methods=["POST"])
    async def hub_owners(self, request, hub):
        """Site admins make or unmake owners: ``{"username": ..., "owner": true|false}``."""
        self.directory.hub(hub)
        who = await self._allowed(request, "set_owner", hub)
        body = self._body(request)
        try:
            username = validate_username(body.get("username") if isinstance(body, dict) else None)
        except ValueError as e:
            raise InvalidConfig({"username": str(e)}) from None
        present = body.get("owner", True)
        if not isinstance(present, bool):
            raise InvalidConfig({"owner": "must be true or false"})
        if not await self.accounts.known_user(username):
            raise InvalidConfig({"username": f"{username!r} has never logged in to Hubs"})
        changed = await self.editor.set_role(hub, username, "owner", present, who.username)
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
            if not await self.accounts.known_user(owner):
                raise InvalidConfig({"owners": f"{owner!r} has never logged in to Hubs"})
        hub = Hub(name, summary, user_hub=False)
        await self.editor.create_hub(hub, team_widgets(name, self.config.fedocal_url, summary), owners,
                                     who.username)
        return _json(request, {"ok": True, "hub": hub.as_json()}, 201)
