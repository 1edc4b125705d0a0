"""When widgets are rebuilt without a message: after a failed build (retry) and as their data ages (refresh).

A widget whose build failed is built again ``retry`` seconds later, while it
still fails and still exists. A widget that declares ``REFRESH`` is rebuilt
once the payload served here is that old. Both name their cause by period, so
that every process of a fleet asks for the same build and shares one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


def refresh_plan(now: float, served: Iterable[tuple[int, int, float]]) -> list[tuple[int, str]]:
    """(widget, cause) of every served widget due a refresh (pure).

    ``served`` gives (widget id, version held in ms, refresh period in s, 0 for none).
    """
    now_ms = now * 1000
    return [(idx, f"refresh:{int(now_ms // (refresh * 1000))}") for idx, version, refresh in served
            if refresh and now_ms - version >= refresh * 1000]


def retry_cause(now: float, retry: float) -> str:
    """The cause of a retry: the same for every process retrying in the same period (pure)."""
    return f"retry:{int(now // retry)}"


class RebuildSchedule:
    """Retries of failing widgets on the injected clock, and the refresh plan."""

    def __init__(self, clock: Any, retry: float, rebuild: Callable[[int, str], Any],
                 exists: Callable[[int], bool], rebuild_many: Callable[[list[tuple[int, str]]], Any] | None = None):
        self.clock = clock
        self.retry = retry
        self.rebuild = rebuild  # rebuild(idx, cause)
        self.rebuild_many = rebuild_many  # rebuild_many([(idx, cause), ...]): a refresh's widgets in one go
        self.exists = exists  # is the widget still configured?
        self._failing: set[int] = set()  # widgets whose latest build failed
        self._retries: dict[int, Any] = {}

    def failed(self, idx: int) -> None:
        """The widget's build failed: build it again later (once, however often it fails meanwhile)."""
        self._failing.add(idx)
        if idx in self._retries and self._retries[idx].active():
            return
        self._retries[idx] = self.clock.callLater(self.retry, self._retry, idx)

    def succeeded(self, idx: int) -> None:
        self._failing.discard(idx)

    def forget(self, idx: int) -> None:
        """The widget is gone: no retry."""
        self._failing.discard(idx)
        retry = self._retries.pop(idx, None)
        if retry is not None and retry.active():
            retry.cancel()

    def refresh(self, served: Iterable[tuple[int, int, float]]) -> list[int]:
        """Rebuild every served widget due a refresh; returns their ids."""
        plan = refresh_plan(self.clock.seconds(), served)
        if self.rebuild_many is not None and plan:
            self.rebuild_many(plan)
        else:
            for idx, cause in plan:
                self.rebuild(idx, cause)
        return [idx for idx, _ in plan]

    def _retry(self, idx: int) -> None:
        self._retries.pop(idx, None)
        if idx in self._failing and self.exists(idx):
            self.rebuild(idx, retry_cause(self.clock.seconds(), self.retry))
