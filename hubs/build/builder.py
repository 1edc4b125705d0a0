"""A widget's payload from its data: pure rendering, no I/O.

A payload is the JSON a widget's ``/json`` endpoint answers and its SSE event
carries: ``{"hub", "idx", "plugin", "version", "data", "html"}``, with
``"error"`` (and ``data`` null) when the widget could not be built, or
``"stale"`` when it shows its last good data after a failed refresh.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import defer

from hubs.build.render import make_environment
from hubs.directory.directory import dumps
from hubs.models import Widget
from hubs.services.http import ServiceError
from hubs.widgets.base import InvalidConfig, WidgetSpec
from hubs.widgets.util import WidgetProblem


def describe_error(error: BaseException, timeout: float) -> str:
    """A sentence for people, never a traceback."""
    if isinstance(error, (ServiceError, WidgetProblem)):
        return str(error)
    if isinstance(error, (defer.TimeoutError, defer.CancelledError)):
        return f"This widget took longer than {timeout:g} s to load its data."
    if isinstance(error, InvalidConfig):
        return f"This widget's configuration is invalid ({error})."
    if isinstance(error, (TypeError, ValueError)) and "JSON" in str(error):
        return "This widget produced data that cannot be shown."
    return "This widget could not load its data."


class PayloadBuilder:
    """Widget, spec, data and version in; payload bytes out."""

    def __init__(self, env: Any = None):
        self.env = env if env is not None else make_environment()

    @staticmethod
    def _base(widget: Widget, version: int) -> dict[str, Any]:
        return {"hub": widget.hub, "idx": widget.idx, "plugin": widget.plugin, "version": version}

    def payload(self, widget: Widget, spec: WidgetSpec, data: Any, version: int) -> bytes:
        """The payload of good data; raises if ``data`` is not a JSON object or its template fails."""
        data = json.loads(dumps(data))
        if not isinstance(data, dict):
            raise TypeError("widget data must be a JSON object")
        body = self.env.get_template(spec.template).render(**data)
        html = self.env.get_template("chrome.html").render(widget=widget, spec=spec, body=body, chrome=spec.chrome)
        return dumps({**self._base(widget, version), "data": data, "html": html})

    def error(self, widget: Widget, spec: WidgetSpec | None, error: str, version: int) -> bytes:
        """The payload of a widget that could not be built: ``error`` says why, in its own frame."""
        body = self.env.get_template("widget_error.html").render(error=error)
        html = self.env.get_template("chrome.html").render(widget=widget, spec=spec, body=body, chrome=True)
        return dumps({**self._base(widget, version), "data": None, "error": error, "html": html})

    def unknown_plugin(self, widget: Widget, version: int) -> bytes:
        """The payload of a widget whose plugin this Hubs does not know."""
        return self.error(widget, None, f"This widget uses {widget.plugin!r}, which this Hubs does not know.",
                          version)

    def stale(self, good: bytes, since: float, error: str, version: int) -> bytes:
        """The last good payload, at a newer version, with a notice that it could not be refreshed since ``since``."""
        payload = json.loads(good)
        notice = self.env.get_template("widget_stale.html").render(since=since, error=error)
        payload.update(version=version, stale={"since": since, "error": error}, html=notice + payload["html"])
        return dumps(payload)
