"""The web site: route parts, each an object with its own Klein app and what it uses, composed into one.

Routes answer from in-process state (the directory, widget states) and call
named operations of the editor and accounts for everything else. Each part
(the front page, pages, the stream, people, edits, health, search, a person's
own stream) is a class with its own ``Klein()`` and constructor arguments;
errors are mapped in one place (errors.py) for all of them; the checks before
a route (the hub exists, who asks and may they, the body) are one decorator
(guard.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from klein.resource import KleinResource

from hubs.build.render import make_environment
from hubs.web.common import HubsKlein, undecodable_url_part
from hubs.web.edits import EditRoutes
from hubs.web.errors import ErrorPages
from hubs.web.frontpage import FrontPageRoutes
from hubs.web.guard import Guard
from hubs.web.health import HealthRoutes
from hubs.web.my_stream import MyStreamRoutes
from hubs.web.pages import PageRoutes
from hubs.web.people import PeopleRoutes
from hubs.web.render import render
from hubs.web.search import SearchRoutes
from hubs.web.stream import StreamRoutes

if TYPE_CHECKING:
    from hubs.people.oidc import OIDCClient
    from hubs.service import Hubs

log = logging.getLogger(__name__)


def plainly_ascii(path: bytes, host: bytes | None) -> bool:
    """Whether a raw path and Host header are ASCII with nothing percent-encoded: then the path segments and
    host name routing decodes are UTF-8 with no further look (the common case, ~3 % of a warm read) (pure)."""
    return path.isascii() and b"%" not in path and (host is None or host.isascii())


class HubsResource(KleinResource):
    """The composed app as a resource, refusing first a URL it could not route: a path or host that is not
    UTF-8 gets a 400 that says so, and one debug line (Klein's own answer is a bare 400 and a traceback)."""

    def __init__(self, app: HubsKlein, errors: ErrorPages):
        super().__init__(app)
        self.errors = errors

    def render(self, request):
        part = None
        if not plainly_ascii(request.path, request.getHeader(b"host")):
            part = undecodable_url_part(request.getRequestHostname(), request.postpath)
        if part is not None:
            log.debug("refused a request whose %s is not UTF-8: %r", part, request.uri[:200])
            body = self.errors.bad_url(request, part)
            request.setHeader(b"content-length", b"%d" % len(body))
            return b"" if request.method == b"HEAD" else body  # a HEAD body would be logged with the request
        return render(self._app, request)  # Klein's render, leaving no cycle (hubs/web/render.py)


class HubsWeb:
    """All HTTP routes of Hubs: one field per part, and one app that serves them all."""

    # Every route of every part, each run on the part held in the field of its name (``self.pages``…).
    app = HubsKlein.compose(errors=ErrorPages.app, front=FrontPageRoutes.app, pages=PageRoutes.app,
                            stream=StreamRoutes.app,
                            people=PeopleRoutes.app, edits=EditRoutes.app, health=HealthRoutes.app,
                            search=SearchRoutes.app, my_stream=MyStreamRoutes.app)

    def __init__(self, hubs: Hubs, oidc: OIDCClient | None = None):
        self.env = env = make_environment()  # the pages' templates (warmed up before the site is up)
        guard = Guard(hubs.directory, hubs.accounts)
        self.errors = ErrorPages(env, hubs.metrics)
        self.front = FrontPageRoutes(hubs.directory, env, guard)
        self.pages = PageRoutes(hubs.directory, hubs.states, hubs.config, env, hubs.ctx, guard)
        self.stream = StreamRoutes(hubs.directory, hubs.states, hubs.streams, hubs.config, guard, hubs.person_streams)
        self.people = PeopleRoutes(hubs.accounts, hubs.directory, hubs.config, oidc, guard)
        self.edits = EditRoutes(hubs.editor, hubs.accounts, hubs.config, guard)
        self.health = HealthRoutes(hubs)
        self.search = SearchRoutes(hubs.directory, hubs.store, env)
        self.my_stream = MyStreamRoutes(hubs.keeper, hubs.directory, hubs.config, env, guard, hubs.clock)

    def resource(self) -> HubsResource:
        return HubsResource(self.app, self.errors)
