"""A throw-away PostgreSQL cluster a test can stop and start (never the machine's own server).

Used by the outage tests (``tests/test_store_outage.py``) and ``bench/pg_restart.py``:
they stop the server under a live store and bring it back, which must never be done
to the shared PostgreSQL other engineers and CI use.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.hubproc import free_port


def _bin_dir() -> Path | None:
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if bins:
        return bins[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


class PostgresCluster:
    """initdb'd in ``workdir``, listening on 127.0.0.1 on a free port; run as ``postgres`` when we are root."""

    def __init__(self, workdir: Path, port: int | None = None):
        self.workdir = Path(workdir)
        self.data = self.workdir / "pg"
        self.log = self.workdir / "pg.log"
        self.port = port or free_port()
        self.bin = _bin_dir()
        if self.bin is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=hubs dbname=postgres connect_timeout=3"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_user, *args], capture_output=True, text=True, timeout=60)

    def init(self) -> None:
        """Create the cluster (trust authentication, user ``hubs``)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
        result = self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "hubs", "--auth=trust",
                           "-E", "UTF8", "--locale=C.UTF-8")
        if result.returncode:
            raise RuntimeError(f"initdb failed: {result.stderr.strip()[-500:]}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        result = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30",
                           "-o", f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off",
                           "start")
        if result.returncode:
            raise RuntimeError(f"pg_ctl start failed: {result.stderr.strip()[-500:]}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: backends told to terminate; ``immediate``: killed)."""
        result = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")
        if result.returncode and "PID file" not in result.stderr:
            raise RuntimeError(f"pg_ctl stop failed: {result.stderr.strip()[-500:]}")

    def running(self) -> bool:
        return self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "status").returncode == 0

    def destroy(self) -> None:
        """Stop it whatever its state and delete its files."""
        self.stop("immediate")
        shutil.rmtree(self.workdir, ignore_errors=True)
