"""The event stream of a hub: one EventSource per page, resumed or started with a snapshot (see sse.py)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from twisted.internet import defer

from hubs.models import NotFound
from hubs.people.auth import SESSION_COOKIE
from hubs.stream.push import hub_page_listener
from hubs.web.common import HubsKlein, Unauthorized, header, query_arg
from hubs.web.guard import checked
from hubs.web.sse import Event, may_have_missed, serve_stream

if TYPE_CHECKING:
    from hubs.build.states import WidgetStates
    from hubs.config import HubsConfig
    from hubs.directory.directory import Directory
    from hubs.stream.push import PersonStreams
    from hubs.web.guard import Guard
    from hubs.web.sse import Broadcaster


class StreamRoutes:
    """``/<hub>/events``: the stream every open page of a hub listens to (with a session, it also carries the
    signed-in person's ``stream-count`` events: a page keeps one EventSource)."""

    app = HubsKlein()

    def __init__(self, directory: Directory, states: WidgetStates, streams: Broadcaster, config: HubsConfig,
                 guard: Guard, person_streams: PersonStreams | None = None):
        self.person_streams = person_streams
        self.directory = directory
        self.states = states
        self.streams = streams
        self.config = config
        self.guard = guard

    @app.route("/<hub>/events", methods=["GET"])
    @checked()
    def events(self, request, hub):
        # Manual reconnects from the page pass the id in the query string.
        last_id = header(request, "last-event-id") or query_arg(request, "last_id")
        if self.person_streams is None or request.getCookie(SESSION_COOKIE) is None:
            return serve_stream(request, hub, self.streams, self.config.sse_retry_ms, self.snapshot, last_id)
        return defer.ensureDeferred(self._events_with_counts(request, hub, last_id))

    async def _events_with_counts(self, request, hub: str, last_id: str | None):
        try:
            who = await self.guard.identity(request)
        except Unauthorized:
            who = None  # a stale cookie: the hub's stream all the same
        also = partial(hub_page_listener, self.person_streams, who.username) if who and who.signed_in else None
        return serve_stream(request, hub, self.streams, self.config.sse_retry_ms, self.snapshot, last_id, also)

    async def snapshot(self, hub: str, since: int | None) -> list[tuple[str, bytes]]:
        """What a client that cannot be replayed needs: the layout, then every widget — or, for a client
        that says which versions it has seen (coming from another process), the widgets that may be newer."""
        events = [(Event.LAYOUT, self.directory.layout_json(hub))]
        for widget in self.directory.hub_widgets(hub):
            try:
                payload = await self.states.payload(hub, widget.idx)
            except NotFound:
                continue  # removed while the snapshot was built: the layout event says so
            if may_have_missed(self.states.version(widget.idx), since, self.config.widget_timeout):
                events.append((Event.WIDGET, payload))
        return events
