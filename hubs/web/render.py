"""One request through the composed Klein app, leaving no reference cycle behind.

Klein's ``KleinResource.render`` (24.8) runs a request through closures, one of which (``processing_failed``)
calls itself: its cell refers to the function, the function's closure to the cell. That cycle held the
request, its channel, transport and headers (~47 objects a request) until the cyclic GC found them, so every
request fed the collector: at Fedora's size its full collections, 40-90 ms each, were the reactor's longest
stalls (issue 19). Here the same steps are methods of one ``Rendering`` per request, referred to only by the
request's Deferreds: once the request is finished, reference counting frees all of it
(``tests/test_render_cycles.py``).

The behaviour is Klein's: the route's result rendered (a ``klein.Response``, a resource, a renderable, bytes or
text; ``NOT_DONE_YET`` left alone), the app's error handlers tried in their order, werkzeug's HTTP exceptions
answered with their status, anything else through ``request.processingFailed``; nothing written to a request
that is finished; a request whose connection is lost cancels its route's Deferred.
"""

from __future__ import annotations

from typing import Any

from klein import Response
from klein._resource import StandInResource, URLDecodeError, ensure_utf8_bytes, extractURLparts, route_metadata
from klein.interfaces import IKleinRequest
from twisted.internet import defer
from twisted.python import log
from twisted.python.failure import Failure
from twisted.web import server
from twisted.web.iweb import IRenderable
from twisted.web.resource import IResource, getChildForRequest
from twisted.web.template import renderElement
from werkzeug.exceptions import HTTPException


def render(app: Any, request: Any) -> Any:
    """``KleinResource.render`` for ``app`` (a Klein app), without cycles: see the module's text."""
    try:
        url_scheme, server_name, server_port, path_info, script_name = extractURLparts(request)
    except URLDecodeError as e:
        for what, fail in e.errors:
            log.err(fail, f"Invalid encoding in {what}.")
        request.setResponseCode(400)
        return b"Non-UTF-8 encoding in URL."
    mapper = app.url_map.bind(server_name, script_name, path_info=path_info,
                              default_method=request.method.decode("utf-8"), url_scheme=url_scheme)
    IKleinRequest(request).mapper = mapper
    rendering = Rendering(app, request)
    d = defer.maybeDeferred(rendering.execute, mapper)
    d.addCallback(rendering.process)
    d.addErrback(rendering.failed, app._error_handlers)
    d.addCallback(rendering.write)
    d.addErrback(log.err, _why="Unhandled Error writing response")
    return server.NOT_DONE_YET


class Rendering:
    """One request's steps through the app (Klein's closures as methods: nothing here refers to itself)."""

    __slots__ = ("app", "request", "finished", "running")

    def __init__(self, app: Any, request: Any) -> None:
        self.app = app
        self.request = request
        self.finished = False  # the request is finished (answered, or its connection lost)
        self.running: defer.Deferred | None = None  # the route's Deferred, cancelled if the connection goes

    def execute(self, mapper: Any) -> defer.Deferred:
        request = self.request
        rule, kwargs = mapper.match(return_rule=True)
        endpoint = rule.endpoint
        segments = route_metadata(self.app.endpoints[endpoint]).segment_count
        request.prepath.extend(request.postpath[:segments])
        request.postpath = request.postpath[segments:]
        request.notifyFinish().addBoth(self._finish)
        self.running = d = defer.maybeDeferred(self.app.execute_endpoint, endpoint, request, **kwargs)
        request.notifyFinish().addErrback(self._lost)
        return d

    def _finish(self, result: object) -> None:
        self.finished = True

    def _lost(self, failure: Failure) -> None:
        running, self.running = self.running, None
        if running is not None:
            running.cancel()

    def process(self, result: Any) -> Any:
        """Render what the route gave until something is written or left to write."""
        request = self.request
        if isinstance(result, Response):
            result = result._applyToRequest(request)
        if IResource.providedBy(result):
            request.render(getChildForRequest(result, request))
            return StandInResource
        if IRenderable.providedBy(result):
            renderElement(request, result)
            return StandInResource
        return result

    def failed(self, failure: Failure, handlers: Any) -> Any:
        """The first of ``handlers`` that takes the failure answers; with none left, Klein's defaults."""
        while True:
            if self.finished:  # nothing can be written to a finished request
                if not failure.check(defer.CancelledError):
                    log.err(failure, "Unhandled Error Processing Request.")
                return None
            if not handlers:
                return self._default(failure)
            (exceptions, handler), handlers = handlers[0], handlers[1:]
            if failure.check(*exceptions):
                d = defer.maybeDeferred(self.app.execute_error_handler, handler, self.request, failure)
                d.addCallback(self.process)
                return d.addErrback(self.failed, handlers)

    def _default(self, failure: Failure) -> Any:
        request = self.request
        if failure.check(HTTPException):
            exception = failure.value
            request.setResponseCode(exception.code)
            response = exception.get_response({})
            for header, value in response.headers:
                request.setHeader(ensure_utf8_bytes(header), ensure_utf8_bytes(value))
            return defer.succeed(ensure_utf8_bytes(b"".join(response.iter_encoded())))
        request.processingFailed(failure)
        return None

    def write(self, result: Any) -> None:
        self.running = None
        if result is StandInResource:
            return
        if isinstance(result, str):
            result = result.encode("utf-8")
        if isinstance(result, bytes):
            self.request.write(result)
        if not self.finished:
            self.request.finish()
