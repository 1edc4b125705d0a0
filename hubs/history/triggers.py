"""What starts a backfill in a hub process and for whom: a target's people, the hubs whose widgets redraw as
its windows are stored, the ``Backfiller`` wired to the widgets, and the walk started with the process (with
``hubs.backfill.at_start``, one job queued for every hub that never had one)."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from twisted.internet import defer

from hubs.config import HubsConfig
from hubs.directory.directory import Directory
from hubs.metrics import Metrics

log = logging.getLogger(__name__)


def backfill_people(directory: Directory, kind: str, name: str) -> list[str] | None:
    """Whose messages make a backfill target's past: a person's own; a hub's owners and members (None: no
    such target). No I/O."""
    from hubs.widgets.base import username as valid_username

    if kind == "person":
        try:
            return [valid_username(name)]
        except ValueError:
            return None
    hub = directory.find_hub(name)
    if hub is None:
        return None
    return directory.people(name, ("owner", "member")) or ([name] if hub.user_hub else [])


def backfill_hubs(directory: Directory, kind: str, name: str) -> list[str]:
    """The hubs whose activity a backfill of (kind, name) fills: the hub, or the person's own hub and the
    teams they own or belong to."""
    if kind == "hub":
        return [name] if name in directory.hubs else []
    return [h for h in directory.hubs if h == name or name in directory.people(h, ("owner", "member"))]


def make_backfiller(config: HubsConfig, directory: Directory, states: Any, history: Any, jobs: Any, clock,
                    metrics: Metrics, owner: str, concerns=None, feed_hubs=None):
    """The backfill, telling the widgets that read the message store when a window of a target is stored."""
    import os
    import socket

    from hubs.history.backfill import Backfiller, BackfillSettings

    def redraw(job) -> None:
        readers = [w.idx for hub in backfill_hubs(directory, job.kind, job.name)
                   for w in directory.widgets.values() if w.hub == hub
                   and getattr(directory.registry.get(w.plugin), "reads_messages", False)]
        if readers:
            cause = f"backfill:{job.kind}:{job.name}:{job.windows}:{job.status}"
            states.rebuild_many([(idx, cause) for idx in readers]).addErrback(
                lambda f: log.warning("redrawing after a backfill window: %s", f.getErrorMessage()))

    return Backfiller(jobs, history, clock, BackfillSettings.from_config(config),
                      f"{socket.gethostname()}:{os.getpid()}:{owner}", partial(backfill_people, directory),
                      metrics=metrics, on_progress=redraw, concerns=concerns, feed_hubs=feed_hubs)


def start_backfill(hubs: Any) -> None:
    """Start walking backfill jobs (this process's share of the fleet's); with ``hubs.backfill.at_start``,
    queue one for every hub that never had one (in the background: the site does not wait)."""
    backfill = hubs.backfill
    start = getattr(backfill.jobs, "start", None)
    if start is not None:
        start()
    backfill.start()
    if hubs.config.backfill_at_start:
        async def queue_all() -> int:
            queued = 0
            for hub in list(hubs.directory.hubs.values()):
                kind = "person" if hub.user_hub else "hub"
                if not hub.archived and await backfill.jobs.get(kind, hub.name) is None:
                    await backfill.request(kind, hub.name)
                    queued += 1
            log.info("backfill at start: %d hubs queued", queued)
            return queued

        defer.ensureDeferred(queue_all()).addErrback(
            lambda f: log.warning("backfill at start: %s", f.getErrorMessage()))
