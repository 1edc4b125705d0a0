"""Freeze a private PostgreSQL cluster (SIGSTOP every process of it): what a hung disk or a partition looks like.

Only ever a cluster a test or benchmark started itself (``tests.fleet.PrivatePostgres``), never the machine's.
Stopped processes keep their sockets: clients can still connect (the kernel queues the connection) and send,
but nothing answers until ``thaw``. A watchdog process thaws the cluster after a while in any case: code that
blocks on a frozen server (libpq's cancel holds the GIL) would otherwise never get to thaw it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def cluster_pids(data: Path) -> list[int]:
    """The postmaster (from ``postmaster.pid``) and every process it started (backends, checkpointer, ...)."""
    postmaster = int((Path(data) / "postmaster.pid").read_text().split("\n", 1)[0])
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == postmaster:  # the fields after "(comm)": state, ppid, ...
            children.append(int(entry.name))
    return [postmaster, *sorted(children)]


@dataclass
class Frozen:
    pids: list[int]
    watchdog: subprocess.Popen


def freeze(data: Path, watchdog: float = 30.0) -> Frozen:
    """SIGSTOP the postmaster first (no new backends), then its children; a watchdog thaws them after ``watchdog`` s."""
    pids = cluster_pids(data)
    os.kill(pids[0], signal.SIGSTOP)
    pids = [pids[0], *cluster_pids(data)[1:]]  # and a backend forked just before the stop
    for pid in pids[1:]:
        os.kill(pid, signal.SIGSTOP)
    dog = subprocess.Popen(["sh", "-c", f"sleep {watchdog}; kill -CONT {' '.join(map(str, pids))} 2>/dev/null"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    return Frozen(pids, dog)


def thaw(frozen: Frozen) -> None:
    """SIGCONT every process ``freeze`` stopped (those that still exist), and call the watchdog off."""
    for pid in frozen.pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(frozen.watchdog.pid, signal.SIGKILL)  # its own group: the shell and its sleep
    frozen.watchdog.wait()


@contextlib.contextmanager
def frozen(data: Path, watchdog: float = 30.0) -> Iterator[Frozen]:
    """The cluster frozen for the ``with`` block, and thawed whatever happens in it."""
    state = freeze(data, watchdog)
    try:
        yield state
    finally:
        thaw(state)
