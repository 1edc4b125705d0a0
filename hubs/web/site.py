"""The web site: a Klein app held by an object built with the parts of a Hubs.

Routes answer from in-process state (the directory, widget states) and call
named operations of the editor and accounts for everything else. The routes
live in parts, one file each (pages, people, edits); errors are mapped in one
place (errors.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubs.build.render import make_environment
from hubs.web.common import app
from hubs.web.edits import EditRoutes
from hubs.web.errors import ErrorRoutes
from hubs.web.pages import PageRoutes
from hubs.web.people import PeopleRoutes

if TYPE_CHECKING:
    from hubs.service import Hubs


class HubsWeb(ErrorRoutes, PageRoutes, PeopleRoutes, EditRoutes):
    """All HTTP routes of Hubs."""

    app = app

    def __init__(self, hubs: Hubs, oidc=None):
        self.hubs = hubs
        self.directory = hubs.directory
        self.states = hubs.states
        self.editor = hubs.editor
        self.accounts = hubs.accounts
        self.streams = hubs.streams
        self.registry = hubs.directory.registry
        self.config = hubs.config
        self.clock = hubs.clock
        self.oidc = oidc
        self.env = make_environment()
        self.started = self.clock.seconds()
        self._pages: dict[str, tuple[int, bytes]] = {}  # rendered pages by hub ("" = the list of hubs)

    def resource(self):
        return self.app.resource()
