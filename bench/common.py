"""Shared helpers for the benchmarks: a scratch hub on the test services, wrk parsing."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hubs.db.migrate import migrate  # noqa: E402
from hubs.db.populate import load_demo  # noqa: E402
from tests.conftest import drop_database, fresh_database  # noqa: E402
from tests.hubproc import HubProcess  # noqa: E402


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()} · {os.cpu_count()} cores · {cpu} · Python {platform.python_version()}"


@contextmanager
def scratch_hub(extra: dict | None = None, populate=load_demo):
    """A real fedmsg-hub on a fresh database (HUBS_TEST_DSN) and memcached (HUBS_TEST_MEMCACHED)."""
    admin = os.environ["HUBS_TEST_DSN"]
    dsn = fresh_database(admin, "hubs_bench")
    try:
        migrate(dsn)
        populate(dsn)
        with tempfile.TemporaryDirectory() as tmp:
            hub = HubProcess(Path(tmp), dsn, os.environ["HUBS_TEST_MEMCACHED"], extra=extra)
            hub.start(timeout=120)
            try:
                yield hub
            finally:
                hub.stop()
    finally:
        drop_database(admin, dsn)


def start_swarm(port: int, hub: str, n: int) -> subprocess.Popen:
    """bench/sse_swarm.py holding ``n`` streams of ``hub`` on ``port`` (not yet waited for: see ``swarm_ready``)."""
    return subprocess.Popen([sys.executable, str(Path(__file__).parent / "sse_swarm.py"), str(port), hub, str(n)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def swarm_ready(swarm: subprocess.Popen, n: int) -> None:
    line = swarm.stdout.readline().strip()
    if line != f"ready {n}":
        raise RuntimeError(f"the stream swarm did not open {n} streams: {line!r}")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * _UNITS[unit]


def wrk(url: str, seconds: int = 8, connections: int = 16, threads: int = 1, headers: dict | None = None) -> dict:
    """Run wrk and return requests/s, p50, p99 (ms) and errors."""
    sent = [arg for name, value in (headers or {}).items() for arg in ("-H", f"{name}: {value}")]
    out = subprocess.run(["wrk", "--latency", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", *sent, url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": p50, "p99": p99, "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}
