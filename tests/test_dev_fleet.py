"""`make fleet` for real: `tools/dev.sh fleet 2` outlives a killed hub process; Ctrl-C stops every process it started.

The script runs in its own process group, as under a terminal, with private ports
and services (its database, a memcached of its own, the canned services, no relay,
no development login), the test's virtualenv as ``HUBS_VENV`` (so nothing is
installed) and its scratch directory (``HUBS_DEV_DIR``) under the test's tmp dir.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import drop_database, fresh_database, need_service
from tests.fleet import HAPROXY, Memcached
from tests.hubproc import ROOT, free_port
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e

HUBS = 2
STOP_WITHIN = 5.0  # seconds from Ctrl-C to nothing left


def free_port_run(count: int) -> int:
    """A port P such that P..P+count-1 are all free (the balancer and the hub processes after it)."""
    for _ in range(200):
        base = random.randint(20000, 60000 - count)
        if all(port_is_free(p) for p in range(base, base + count)):
            return base
    raise RuntimeError(f"no {count} free ports in a row")


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def group_processes(pgid: int) -> list[str]:
    """Processes of a process group that still run (zombies excluded), as "pid command"."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append(f"{entry.name} {command[:120]}")
        except (OSError, IndexError, ValueError):
            continue  # gone while we looked
    return found


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            r.read()
            return r.status == 200
    except OSError:
        return False


@pytest.fixture
def fleet_env(tmp_path, pg_admin_dsn, canned_services_process):
    """What `tools/dev.sh fleet` needs to use nothing shared: private ports, database, memcached, scratch dir."""
    if HAPROXY is None:
        need_service("HAProxy", "apt-get install haproxy (tools/dev.sh test does it)")
    if shutil.which("memcached") is None:
        need_service("memcached", "the memcached binary is not installed")
    venv = Path(sys.prefix)
    if not (venv / "bin" / "fedmsg-hub").exists():
        need_service("a virtualenv with Hubs", f"{venv} has no bin/fedmsg-hub")
    memcached = Memcached()
    memcached.start()
    dsn = fresh_database(pg_admin_dsn, "hubs_devfleet")  # populate.py (run by dev.sh) migrates and loads it
    lb = free_port_run(HUBS + 1)
    env = dict(os.environ, HUBS_VENV=str(venv), HUBS_WEB_PORT=str(lb), HUBS_DEV_DIR=str(tmp_path / "dev"),
               HUBS_DEV_PG_PORT=str(free_port()), HUBS_DEV_MC_PORT=str(free_port()), HUBS_DB_DSN=dsn,
               HUBS_MEMCACHED=memcached.address, HUBS_SERVICES=canned_services_process, HUBS_ALLOW_PRIVATE_URLS="1",
               HUBS_DEV_LOGIN="0", HUBS_DEV_RELAY="0", HUBS_DEMO_FEED="0",
               HUBS_BUS_ENDPOINTS=",".join(f"tcp://127.0.0.1:{free_port()}" for _ in range(HUBS)))
    yield env, lb
    memcached.stop()
    drop_database(pg_admin_dsn, dsn)


class DevFleet:
    """`tools/dev.sh fleet N` in its own process group, its output in a file."""

    def __init__(self, env: dict, workdir: Path, n: int):
        self.log_path = workdir / "dev-fleet.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(["bash", str(ROOT / "tools" / "dev.sh"), "fleet", str(n)], cwd=ROOT, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT, process_group=0)
        self.pgid = self.proc.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def pids(self, lb: int) -> dict[str, int]:
        """The group's hub processes by the port they were given ({"hub1": pid, ...}) and HAProxy's."""
        found = {}
        for line in group_processes(self.pgid):
            pid, command = int(line.split()[0]), line.split(maxsplit=1)[1]
            if "fedmsg-hub" in command:
                environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
                port = next(int(v.split("=", 1)[1]) for v in environ if v.startswith("HUBS_WEB_PORT="))
                found[f"hub{port - lb}"] = pid
            elif "haproxy" in command and "sed" not in command:
                found["HAProxy"] = pid
        return found

    def stop(self) -> None:
        """Whatever the test did, leave nothing of the group behind."""
        if group_processes(self.pgid):
            os.killpg(self.pgid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._log.close()


@pytest.mark.parametrize("ctrl_c", ["group", "script"], ids=["ctrl-c-at-a-terminal", "sigint-to-the-script-alone"])
def test_a_killed_hub_leaves_the_fleet_serving_and_ctrl_c_stops_everything(fleet_env, tmp_path, ctrl_c):
    """Kill one hub: the script names it and HAProxy serves from the other; SIGINT: no process left, port free."""
    env, lb = fleet_env
    fleet = DevFleet(env, tmp_path, HUBS)
    balancer = f"http://127.0.0.1:{lb}"
    try:
        healthy = [balancer] + [f"http://127.0.0.1:{lb + i}" for i in range(1, HUBS + 1)]
        wait_for(lambda: fleet.proc.poll() is not None or all(answers(url + "/healthz") for url in healthy), 120,
                 "every hub process and the balancer answer")
        assert fleet.proc.poll() is None, fleet.output()
        pids = fleet.pids(lb)
        assert set(pids) == {"hub1", "hub2", "HAProxy"}, pids

        os.kill(pids["hub1"], signal.SIGKILL)
        wait_for(lambda: fleet.proc.poll() is not None or all(answers(balancer + "/designteam/json") for _ in range(5)),
                 20, "five requests in a row answered through HAProxy with hub1 gone")
        assert fleet.proc.poll() is None, "one dead hub does not stop the fleet"
        running = {int(p.split()[0]) for p in group_processes(fleet.pgid)}
        assert {pids["hub2"], pids["HAProxy"]} <= running
        wait_for(lambda: re.search(rf"hub1 on \S+ \(pid {pids['hub1']}\) exited \(killed by SIGKILL\)",
                                   fleet.output()), 10, "the script names the process that died")

        if ctrl_c == "group":
            os.killpg(fleet.pgid, signal.SIGINT)  # what a terminal does on Ctrl-C
        else:
            os.kill(fleet.proc.pid, signal.SIGINT)
        wait_for(lambda: fleet.proc.poll() is not None and not group_processes(fleet.pgid), STOP_WITHIN,
                 "every process of the fleet stopped", interval=0.1)
        assert fleet.proc.returncode == 130
        assert all(port_is_free(port) for port in range(lb, lb + HUBS + 1)), "the balancer's and hubs' ports are free"
    except BaseException:
        print(fleet.output()[-6000:])
        print("left:", group_processes(fleet.pgid))
        raise
    finally:
        fleet.stop()
