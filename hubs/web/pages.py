"""Reading routes: pages, layouts, widget JSON, the widget catalogue and the API document."""

from __future__ import annotations

import inspect
import json
import logging
from typing import TYPE_CHECKING

from markupsafe import Markup
from twisted.internet import defer
from twisted.web.resource import NoResource
from twisted.web.static import File

from hubs.models import NotFound
from hubs.web.common import STATIC_DIR, BadRequest, HubsKlein, _json
from hubs.web.guard import checked
from hubs.web.openapi import openapi_json

if TYPE_CHECKING:
    from jinja2 import Environment

    from hubs.build.context import WidgetContext
    from hubs.build.states import WidgetStates
    from hubs.config import HubsConfig
    from hubs.directory.directory import Directory
    from hubs.web.guard import Guard

log = logging.getLogger(__name__)


class StaticFiles(File):
    """The page's scripts and styles; a folder is not listed."""

    def directoryListing(self):
        return NoResource("Not found.")

    def getChild(self, path, request):
        # No file is named with a NUL, and FilePath raises ValueError on one (a 500): not found, like any other.
        if (b"\x00" if isinstance(path, bytes) else "\x00") in path:
            return self.childNotFound
        return super().getChild(path, request)


class PageRoutes:
    """Everything a viewer reads, answered from in-process state."""

    app = HubsKlein()

    def __init__(self, directory: Directory, states: WidgetStates, config: HubsConfig, env: Environment,
                 ctx: WidgetContext, guard: Guard):
        self.directory = directory
        self.registry = directory.registry
        self.states = states
        self.config = config
        self.env = env
        self.ctx = ctx  # what a paged widget's ``more`` is given
        self.guard = guard
        self._pages: dict[str, tuple[int, bytes]] = {}  # rendered pages by hub

    def _page(self, name: str, render) -> bytes:
        """A rendered page, re-rendered only when the directory says its hub changed."""
        generation = self.directory.generation(name)
        cached = self._pages.get(name)
        if cached is None or cached[0] != generation:
            cached = self._pages[name] = (generation, render())
        return cached[1]

    @app.route("/static/", branch=True, methods=["GET", "HEAD"], strict_slashes=False)
    def static(self, request):
        return StaticFiles(str(STATIC_DIR))

    @app.route("/api/widgets", methods=["GET"])
    def catalogue(self, request):
        return _json(request, {"widgets": [spec.as_json() for spec in self.registry.values()]})

    @app.route("/api/openapi.json", methods=["GET"])
    def openapi(self, request):
        """The API contract (OpenAPI 3.1) of every route here."""
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        return openapi_json(tuple(sorted(self.registry)))

    @app.route("/widgets/<plugin>/source", methods=["GET"])
    def widget_source(self, request, plugin):
        spec = self.registry.get(plugin)
        if spec is None or not spec.source_file:
            raise NotFound(f"There is no widget called {plugin!r}.")
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        request.setHeader(b"x-content-type-options", b"nosniff")
        return inspect.getsource(spec.module).encode("utf-8")

    @app.route("/<hub>", methods=["GET", "HEAD"])
    @checked()
    def hub_page(self, request, hub):
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self._page(hub, lambda: self._render_hub(hub))

    def _render_hub(self, name: str) -> bytes:
        layout = self.directory.layout(name)
        return self.env.get_template("hub.html").render(
            hub=self.directory.hub(name), layout=layout, columns=layout["columns"],
            sse_retry=self.config.sse_retry_ms).encode("utf-8")

    @app.route("/<hub>/json", methods=["GET"])
    def hub_json(self, request, hub):
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        return self.directory.layout_json(hub)

    @app.route("/<hub>/<int:idx>/json", methods=["GET"])
    def widget_json(self, request, hub, idx):
        request.setHeader(b"content-type", b"application/json; charset=utf-8")
        request.setHeader(b"cache-control", b"no-cache")
        warm = self.states.warm_payload(hub, idx)  # the common case: no coroutine, no I/O
        if warm is not None:
            return warm
        return defer.ensureDeferred(self.states.payload(hub, idx))

    @app.route("/<hub>/<int:idx>/config", methods=["GET"])
    def widget_config_get(self, request, hub, idx):
        """A widget's configuration, version and declared arguments (for the edit form)."""
        widget = self.directory.widget(hub, idx)
        spec = self.registry.get(widget.plugin)
        request.setHeader(b"cache-control", b"no-store")
        return _json(request, {"idx": idx, "plugin": widget.plugin, "title": spec.title if spec else widget.plugin,
                               "config": widget.config, "version": widget.version,
                               "arguments": [a.as_json() for a in spec.arguments] if spec else []})

    @app.route("/<hub>/<int:idx>/more", methods=["GET"])
    async def widget_more(self, request, hub, idx):
        """The next page of a paged widget (activity): {"html", "cursor"}."""
        widget = self.directory.widget(hub, idx)
        spec = self.registry.get(widget.plugin)
        if spec is None or spec.more is None:
            raise NotFound(f"Widget {idx} has no further pages.")
        cursor = (request.args.get(b"cursor") or [b""])[0].decode("utf-8", "replace")
        if not cursor or len(cursor) > 100:
            raise BadRequest("A 'cursor' from the previous page is required.")
        try:
            config = spec.validate(widget.config)
            page = await spec.more(self.ctx, widget, cursor, **config)
        except ValueError as e:
            raise BadRequest(f"Cannot page this widget: {e}.") from None
        html = self.env.get_template(spec.more_template).render(**page)
        return _json(request, {"html": html, "cursor": page.get("cursor")})

    @app.route("/<hub>/<int:idx>", methods=["GET"])
    async def widget_page(self, request, hub, idx):
        payload = json.loads(await self.states.payload(hub, idx))
        spec = self.registry.get(payload["plugin"])
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return self.env.get_template("widget_page.html").render(
            hub=self.directory.hub(hub), payload=payload, html=Markup(payload["html"]),
            title=spec.title if spec else payload["plugin"]).encode("utf-8")
