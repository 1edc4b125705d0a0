"""What a backfill does next: pure decisions over plain values, each tested from a table of cases.

A backfill walks explicit time windows in ascending order (``plan_windows``), never deep page numbers:
datagrepper counts every match of a query on every page, so page 40 of a long range costs forty counts
and times out upstream. A window whose first page says it holds more pages than ``max_pages`` is split
(``split_window``) before its other pages are read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

KINDS = ("person", "hub")
OPEN = ("queued", "running")  # statuses of a job that still has work


@dataclass(frozen=True, order=True)
class Window:
    """``[start, end)`` in seconds since the epoch."""

    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Job:
    """One backfill: its target, the range asked for, how far it got, and who runs it until when."""

    kind: str
    name: str
    since: float
    until: float
    reached: float
    status: str = "queued"
    fetched: int = 0
    stored: int = 0
    windows: int = 0
    failures: int = 0
    error: str = ""
    owner: str | None = None
    lease_until: float = 0.0
    requested_at: float = 0.0
    updated_at: float = 0.0

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)

    @property
    def percent(self) -> int:
        return percent_done(self.since, self.until, self.reached, self.status)

    def as_json(self) -> dict:
        return {"kind": self.kind, "name": self.name, "status": self.status, "percent": self.percent,
                "since": self.since, "until": self.until, "reached": self.reached, "fetched": self.fetched,
                "stored": self.stored, "windows": self.windows, "failures": self.failures, "error": self.error,
                "owner": self.owner}


def plan_windows(reached: float, until: float, size: float) -> list[Window]:
    """The windows left between ``reached`` and ``until``, ascending, each at most ``size`` seconds (pure).

    Boundaries fall on multiples of ``size`` (after the first), so that a resumed walk asks the same
    windows as the walk it resumes, whatever time it resumes at.
    """
    if size <= 0:
        raise ValueError("window size must be positive")
    windows = []
    start = reached
    while start < until:
        end = min(until, (math.floor(start / size) + 1) * size)
        windows.append(Window(start, end))
        start = end
    return windows


def split_window(window: Window, pages: int, max_pages: int, shortest: float = 60.0) -> list[Window]:
    """A window too full to page through (``pages`` > ``max_pages``) as smaller windows, else itself (pure).

    Split into as many equal parts as it has pages too many (``ceil(pages / max_pages)``), never shorter
    than ``shortest`` seconds: a minute that holds more than ``max_pages`` pages is paged through.
    """
    if pages <= max_pages or window.length <= shortest:
        return [window]
    parts = min(math.ceil(pages / max_pages), max(1, int(window.length // shortest)))
    if parts < 2:
        return [window]
    step = window.length / parts
    edges = [window.start + i * step for i in range(parts)] + [window.end]
    return [Window(a, b) for a, b in zip(edges, edges[1:], strict=False)]


def percent_done(since: float, until: float, reached: float, status: str = "running") -> int:
    """How much of ``[since, until)`` is walked, 0–100 (pure); a finished job is 100."""
    if status == "done" or until <= since:
        return 100
    share = (min(max(reached, since), until) - since) / (until - since)
    return min(99 if status in OPEN else 100, int(share * 100))


@dataclass(frozen=True)
class Request:
    """What asking for a backfill does to the target's job: ``start`` a new walk from ``reached``, or
    ``keep`` the job as it is (it is already walking that range or more)."""

    action: str  # "start" or "keep"
    since: float = 0.0
    until: float = 0.0
    reached: float = 0.0


def plan_request(existing: Job | None, since: float, until: float) -> Request:
    """A backfill of ``[since, until)`` asked for a target whose job is ``existing`` (pure).

    * no job yet: walk the whole range;
    * an open job (queued, running): keep it as it is (one at a time per target);
    * a finished job: walk only what it did not cover — from its ``until`` if it covered back to ``since``
      (the messages since then came over the bus, or were missed while Hubs was down), else the whole range;
    * a failed job: resume from where it got, if it covered back to ``since``.
    Message ids are unique in the store, so a window walked twice stores nothing twice.
    """
    if existing is None:
        return Request("start", since, until, since)
    if existing.status in OPEN:
        return Request("keep")
    covered_from = existing.since <= since
    if existing.status == "done" and covered_from:
        return Request("start", since, until, min(max(existing.until, since), until))
    if existing.status == "failed" and covered_from:
        return Request("start", since, until, min(max(existing.reached, since), until))
    return Request("start", since, until, since)


def effective_since(now: float, days: float, max_age_days: float) -> float:
    """The oldest moment worth fetching (pure): ``days`` back, but never past what retention keeps."""
    return now - min(days, max_age_days) * 86400
