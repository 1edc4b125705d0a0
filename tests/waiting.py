"""The one way tests wait for something another process or thread does: poll a predicate until it holds.

Tests of code on the injected clock never wait (they advance a ``Clock``). These
helpers are for what a test can only observe from outside: real processes (hubs,
HAProxy, PostgreSQL, memcached, a shell script), a real broker, real sockets.
``wait_for`` blocks (the test's own thread); ``wait_until`` is the same for a test
running inside the reactor (pytest-twisted), which must not block it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Call ``predicate`` every ``interval`` s until it returns something truthy, and return that.

    Raises ``TimeoutError`` naming ``what`` once ``timeout`` seconds have passed
    without a truthy answer (the predicate is always called at least once, and
    once more at the deadline).
    """
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        time.sleep(min(interval, max(0.0, end - time.monotonic())))


def holds_for(check: Callable[[], object], duration: float, what: str, interval: float = 0.05) -> int:
    """Call ``check`` every ``interval`` s for ``duration`` s: every answer must be truthy. Returns how many ran.

    The opposite of a wait: something must stay true over a window (pages keep
    being served while a server is down), so the window itself is the subject.
    """
    end, checks = time.monotonic() + duration, 0
    while True:
        checks += 1
        assert check(), f"{what}: stopped holding after {checks - 1} checks"
        if time.monotonic() >= end:
            return checks
        time.sleep(min(interval, max(0.0, end - time.monotonic())))


async def wait_until(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """``wait_for`` for a test inside the reactor: the reactor keeps running between calls."""
    from twisted.internet import reactor, task

    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise TimeoutError(f"{what}: not within {timeout:g} s")
        await task.deferLater(reactor, min(interval, max(0.0, end - time.monotonic())), lambda: None)


def freeze(pid: int, timeout: float = 5.0) -> None:
    """SIGSTOP ``pid`` and return once every one of its threads is stopped.

    ``kill`` returns before the signal has stopped a process running on another core: a request
    sent right after could still be answered by a thread not yet stopped (a flaky "frozen" test).
    """
    import os
    import signal
    from pathlib import Path

    os.kill(pid, signal.SIGSTOP)

    def all_stopped() -> bool:
        try:
            states = [(task / "stat").read_text().rsplit(")", 1)[1].split()[0]
                      for task in Path(f"/proc/{pid}/task").iterdir()]
        except (FileNotFoundError, ProcessLookupError):
            return True  # gone: nothing answers either
        return all(state in ("T", "t") for state in states)

    wait_for(all_stopped, timeout, f"process {pid} to stop", interval=0.002)
