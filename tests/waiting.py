"""The one way tests wait for something that happens in another process or thread: poll a predicate.

Tests of code on the injected clock never wait (they advance a ``Clock``); this is
for real processes (hubs, HAProxy, PostgreSQL, a shell script) whose progress a test
can only observe from outside.
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
