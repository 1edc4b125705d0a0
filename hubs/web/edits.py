"""Writing routes: every change an owner, a member or a site admin makes, checked then handed to the editor."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hubs.directory.defaults import team_widgets
from hubs.models import FieldErrors, Hub, NotFound
from hubs.people.oidc import USERNAME as USERNAME_RE
from hubs.web.common import RESERVED_NAMES, HubsKlein, Unavailable, _json
from hubs.web.guard import JSON_BODY, OBJECT_BODY, checked
from hubs.widgets.base import InvalidConfig
from hubs.widgets.base import username as validate_username

if TYPE_CHECKING:
    from hubs.config import HubsConfig
    from hubs.directory.editor import Editor
    from hubs.people.accounts import Accounts
    from hubs.web.guard import Guard

log = logging.getLogger(__name__)

# What each hub action does: (role, given or taken away).
ROLE_ACTIONS = {"subscribe": ("subscriber", True), "unsubscribe": ("subscriber", False),
                "star": ("stargazer", True), "unstar": ("stargazer", False),
                "join": ("member", True), "leave": ("member", False)}


def version_of(body: dict) -> int | None:
    """The version the client edited, if it says (a whole number), else None."""
    version = body.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise InvalidConfig({"version": "must be the whole-number version you edited"})
    return version


def hub_edit_action(args: Mapping[str, Any], body: dict) -> str:
    """Archiving (or restoring) a hub is for site admins; other hub fields for its owners."""
    return "archive_hub" if "archived" in body else "edit_hub"


def role_action(args: Mapping[str, Any], body: Any) -> str:
    """The URL's hub action, if there is one of that name (else 404)."""
    if args["action"] not in ROLE_ACTIONS:
        raise NotFound(f"There is no hub action called {args['action']!r}.")
    return args["action"]


class EditRoutes:
    """Each write: its checks (``checked``: the hub exists, who asks and may they, the body), then the editor."""

    app = HubsKlein()

    def __init__(self, editor: Editor, accounts: Accounts, config: HubsConfig, guard: Guard):
        self.editor = editor
        self.accounts = accounts
        self.config = config
        self.guard = guard

    @app.route("/<hub>/<int:idx>/config", methods=["POST"])
    @checked("edit_widget", body=JSON_BODY)
    async def widget_config(self, request, hub, idx, *, who, body):
        """Body: ``{"config": {...}, "version": N}`` (or, for scripts, the config object alone)."""
        version = None
        if isinstance(body, dict) and isinstance(body.get("config"), dict) and set(body) <= {"config", "version"}:
            version = version_of(body)
            body = body["config"]
        widget = await self.editor.update_widget_config(hub, idx, body, who.username, version)
        return _json(request, {"ok": True, "widget": widget.as_json(), "config": widget.config})

    @app.route("/<hub>/config", methods=["POST"])
    @checked(hub_edit_action, body=OBJECT_BODY)
    async def hub_config(self, request, hub, *, who, body):
        """Body: hub fields (``summary``, ``left_width``, ``allow_join``; ``archived`` for admins) and ``version``."""
        fields = {k: v for k, v in body.items() if k != "version"}
        try:
            new = await self.editor.update_hub(hub, fields, who.username, version_of(body))
        except FieldErrors as e:
            raise InvalidConfig(e.errors) from None
        return _json(request, {"ok": True, "hub": new.as_json()})

    @app.route("/<hub>/widgets", methods=["POST"])
    @checked("add_widget", body=JSON_BODY)
    async def add_widget(self, request, hub, *, who, body):
        """Body: ``{"plugin": ..., "column": "left"|"right", "config": {...}}`` → 201."""
        if not isinstance(body, dict) or not isinstance(body.get("plugin"), str):
            raise InvalidConfig({"plugin": "name the widget to add"})
        config = body.get("config")
        if config is not None and not isinstance(config, dict):
            raise InvalidConfig({"config": "must be a JSON object (or left out for the defaults)"})
        widget = await self.editor.add_widget(hub, body["plugin"], body.get("column", "left"), config or {},
                                              who.username)
        return _json(request, {"ok": True, "widget": widget.as_json()}, 201)

    @app.route("/<hub>/<int:idx>/move", methods=["POST"])
    @checked("move_widget", body=OBJECT_BODY)
    async def move_widget(self, request, hub, idx, *, who, body):
        """Body: ``{"column": "left"|"right", "position": N}``."""
        widget = await self.editor.move_widget(hub, idx, body.get("column"), body.get("position"), who.username)
        return _json(request, {"ok": True, "widget": widget.as_json()})

    @app.route("/<hub>/<int:idx>/delete", methods=["POST"])
    @checked("remove_widget")
    async def remove_widget(self, request, hub, idx, *, who):
        widget = await self.editor.remove_widget(hub, idx, who.username)
        return _json(request, {"ok": True, "widget": widget.as_json()})

    @app.route("/api/hub/<hub>/<action>", methods=["POST"])
    @checked(role_action)
    async def hub_action(self, request, hub, action, *, who):
        """The signed-in visitor subscribes, unsubscribes, stars, unstars, joins or leaves a hub."""
        role, present = ROLE_ACTIONS[action]
        changed = await self.editor.set_role(hub, who.username, role, present, who.username)
        return _json(request, {"ok": True, "changed": changed, "role": role, "present": present})

    @app.route("/api/hub/<hub>/backfill", methods=["POST"])
    @checked("backfill_hub")
    async def backfill(self, request, hub, *, who):
        """Owners fill their hub's message store from datagrepper (in the background) → 202 with the job."""
        backfill = self.editor.backfill
        if backfill is None:
            raise Unavailable("Backfilling from datagrepper is off on this Hubs (hubs.backfill.enabled).")
        from hubs.history.backfill import UnknownTarget

        record = self.editor.directory.hub(hub)
        try:
            job = await backfill.request("person" if record.user_hub else "hub", hub)
        except UnknownTarget as e:
            raise NotFound(str(e)) from None
        return _json(request, {"ok": True, "job": job.as_json()}, 202)

    @app.route("/api/hub/<hub>/owners", methods=["POST"])
    @checked("set_owner", body=JSON_BODY)
    async def hub_owners(self, request, hub, *, who, body):
        """Site admins make or unmake owners: ``{"username": ..., "owner": true|false}``."""
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
    @checked("create_hub", body=OBJECT_BODY)
    async def create_hub(self, request, *, who, body):
        """Site admins create team hubs: ``{"name": ..., "summary": ..., "owners": [...]}`` → 201."""
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
