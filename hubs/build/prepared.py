"""An owner's edit, prepared while its commit travels: the build's start, then its payload, both ahead of time.

``WidgetStates.prepare_edit`` is called as the edit's ``UPDATE`` is sent. The reactor would only wait for
PostgreSQL meanwhile, so the rebuild that the commit starts is done as far as it can be without the commit:
its start in memcached (``hubs.build.begin``: floor, version, lease), then, once that answers, ``data()`` and
the rendering of the widget *as the commit will return it* (the new config, the next version). When the
commit's record arrives, the build takes that payload if the record is the one guessed and the version is the
one it builds (``usable``); otherwise (a concurrent move, a newer build here) it computes as before. Nothing
is shown or saved before the commit: a failed commit drops the guess with its lease.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer

from hubs.build.begin import Begun
from hubs.models import Widget


@dataclass(eq=False)
class PreparedEdit:
    """One edit's start (``begun``: a Deferred of ``Begun``) and its guessed payload (``computed``)."""

    begun: defer.Deferred
    widget: Widget  # the record the commit is expected to return
    computed: defer.Deferred | None = None  # fires (payload, error) or None (nothing computed)
    version: int = 0  # the version the guess was built at


def expected_record(widget: Widget, config: dict[str, Any]) -> Widget:
    """The record an edit of ``widget`` to ``config`` commits, if nothing else changes it meanwhile (pure)."""
    return dataclasses.replace(widget, config=config, version=widget.version + 1)


def worth_computing(begun: Begun) -> bool:
    """Build ahead only what the build will build itself: it holds the lease, nothing cached, no outage (pure)."""
    return begun.cached is None and not begun.waits and begun.error is None


def usable(prepared: PreparedEdit | None, widget: Widget, version: int) -> bool:
    """May the build of ``widget`` at ``version`` take the guessed payload (pure)?"""
    return (prepared is not None and prepared.computed is not None and prepared.widget == widget
            and prepared.version == version)
