"""A fleet of real ``fedmsg-hub`` processes behind a real HAProxy (tests, benchmarks).

The processes share one database, the memcached server(s) (same key prefix) and
one fedmsg endpoint list: each binds the first free endpoint and subscribes to
all, so every process hears every other's ``hubs.*`` messages and the test's own
publisher (one shared ``test.sender`` endpoint). HAProxy is rendered from
``deploy/haproxy.cfg.in`` (the file ``make fleet`` uses) with an admin socket so a
test can wait for the balancer to see a process come and go.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.buckets import refuse_in_unit_test
from tests.hubproc import ROOT, HubProcess, bus_endpoints, free_port
from tests.waiting import wait_for  # noqa: F401 (bench/push_amqp.py imports it from here)

HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)


class HAProxy:
    """Debian's HAProxy in the foreground with the project's configuration."""

    def __init__(self, workdir: Path, servers: list[str], host: str = "127.0.0.1", maxconn: int | None = None):
        import sys

        sys.path.insert(0, str(ROOT / "tools"))
        from haproxy_cfg import render

        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = free_port()
        self.socket_path = str(self.workdir / "haproxy.sock")
        self.config_path = self.workdir / "haproxy.cfg"
        self.config_path.write_text(render(f"{host}:{self.port}", servers, maxconn, self.socket_path))
        self.log_path = self.workdir / "haproxy.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        refuse_in_unit_test("HAProxy")
        if HAPROXY is None:
            raise FileNotFoundError("haproxy is not installed (tools/dev.sh test installs it)")
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([HAPROXY, "-db", "-f", str(self.config_path)], stdout=self._log,
                                     stderr=subprocess.STDOUT)
        wait_for(lambda: self.proc.poll() is not None or Path(self.socket_path).exists(), timeout, "haproxy start")
        if self.proc.poll() is not None:
            raise RuntimeError(f"haproxy exited with {self.proc.returncode}:\n{self.log()}")

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect(self.socket_path)
            s.sendall(line.encode() + b"\n")
            out = b""
            while chunk := s.recv(65536):
                out += chunk
        return out.decode()

    def server_status(self) -> dict[str, str]:
        """Each backend server's check status as HAProxy sees it (UP, DOWN, ...)."""
        rows = self.command("show stat").splitlines()
        header = rows[0].lstrip("# ").split(",")
        status = {}
        for row in rows[1:]:
            values = dict(zip(header, row.split(","), strict=False))
            if values.get("pxname") == "hubs" and values.get("svname", "").startswith("hub"):
                status[values["svname"]] = values["status"]
        return status

    def wait_status(self, wanted: dict[str, str], timeout: float = 20.0) -> None:
        def ok():
            now = self.server_status()
            return all(now.get(name, "").startswith(state) for name, state in wanted.items())
        wait_for(ok, timeout, f"HAProxy servers {wanted}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Fleet:
    """N hub processes and HAProxy in front.

    ``hosts`` gives each process the address it listens on (and ``prefixes`` a command
    to run it under, e.g. ``ip netns exec``); ``bus_host`` is where the test's publisher
    is reached. By default everything is on loopback.
    """

    def __init__(self, workdir: Path, dsn: str, memcached: str, n: int = 3, extra: dict | None = None,
                 hosts: list[str] | None = None, prefixes: list[list[str]] | None = None,
                 bus_host: str = "127.0.0.1", haproxy_maxconn: int | None = None, web_ports: list[int] | None = None):
        self.workdir = Path(workdir)
        hosts = hosts or ["127.0.0.1"] * n
        prefixes = prefixes or [[] for _ in range(n)]
        if len(set(hosts)) == 1:
            # One host: one endpoint per process, each on its own port.
            endpoints = bus_endpoints(hosts[0], [free_port() for _ in range(n)])
        else:
            # One endpoint per host, all on the same port.
            port = free_port()
            endpoints = [f"tcp://{host}:{port}" for host in hosts]
        sender = f"tcp://{bus_host}:{free_port()}"
        key_prefix = f"f{uuid.uuid4().hex[:8]}:"
        web_ports = web_ports or [free_port() if host == "127.0.0.1" else 5000 + i for i, host in enumerate(hosts, 1)]
        self.processes = [
            HubProcess(self.workdir / f"hub{i}", dsn, memcached, extra=extra, hub_endpoints=endpoints,
                       sender=sender, host=host, prefix=prefix, memcached_prefix=key_prefix,
                       web_port=port)
            for i, (host, prefix, port) in enumerate(zip(hosts, prefixes, web_ports, strict=True), 1)]
        self.haproxy = HAProxy(self.workdir / "haproxy", [f"{p.host}:{p.web_port}" for p in self.processes],
                               maxconn=haproxy_maxconn)

    def start(self, timeout: float = 60.0) -> None:
        with ThreadPoolExecutor(len(self.processes)) as pool:
            list(pool.map(lambda p: p.start(timeout), self.processes))
        self.haproxy.start()
        self.haproxy.wait_status({f"hub{i}": "UP" for i in range(1, len(self.processes) + 1)})

    def stop(self) -> None:
        self.haproxy.stop()
        for p in self.processes:
            try:
                p.stop()
            except Exception:  # a process a test killed, or one that will not die: keep stopping the rest
                pass

    def __enter__(self) -> Fleet:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def publish(self, topic: str, msg: dict, wait: float = 1.0) -> None:
        self.processes[0].publish(topic, msg, wait)

    def healthz(self, i: int) -> dict:
        return json.loads(self.processes[i].get("/healthz")[1])

    def logs(self) -> str:
        return "\n".join(f"--- hub{i}\n{p.log()[-4000:]}" for i, p in enumerate(self.processes, 1)) + \
            f"\n--- haproxy\n{self.haproxy.log()[-2000:]}"


def _connectable(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


class Memcached:
    """A private memcached server the test starts, stops and brings back."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None):
        self.host, self.port = host, port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        refuse_in_unit_test("a memcached server")
        binary = shutil.which("memcached")
        if binary is None:
            raise FileNotFoundError("memcached is not installed")
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.proc = subprocess.Popen([binary, *user, "-l", self.host, "-p", str(self.port), "-U", "0", "-m", "64",
                                      "-c", "4096"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _connectable(self.host, self.port), timeout, f"memcached on {self.address}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        wait_for(lambda: not _connectable(self.host, self.port), 10, f"memcached on {self.address} to stop")

    def stats(self) -> dict[str, str]:
        with socket.create_connection((self.host, self.port), timeout=2) as s:
            s.sendall(b"stats\r\n")
            out = b""
            while not out.endswith(b"END\r\n"):
                out += s.recv(65536)
        return {parts[1]: parts[2] for parts in (line.split() for line in out.decode().splitlines())
                if len(parts) == 3 and parts[0] == "STAT"}


class PrivatePostgres:
    """A throw-away PostgreSQL cluster listening on ``host`` (never the machine's own server)."""

    def __init__(self, workdir: Path, host: str, port: int | None = None):
        self.workdir = Path(workdir)
        self.host, self.port = host, port or free_port()
        self.data = self.workdir / "pg"
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        initdb = bins[-1] if bins else (Path(shutil.which("initdb")) if shutil.which("initdb") else None)
        if initdb is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb) are not installed")
        self.bin = initdb.parent
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def admin_dsn(self) -> str:
        return f"host={self.host} port={self.port} user=hubs dbname=postgres"

    def start(self) -> None:
        refuse_in_unit_test("a PostgreSQL cluster")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
        subprocess.run([*self.as_user, str(self.bin / "initdb"), "-D", str(self.data), "-U", "hubs",
                        "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True)
        # Trust the /24 it listens on (only the test's namespaces live there).
        network = self.host.rsplit(".", 1)[0] + ".0/24"
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {network} trust\n")
        self.run()

    def run(self) -> None:
        """Start the (already initialised) server; also how a test brings it back after ``stop``."""
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                        str(self.workdir / "pg.log"), "-w", "-t", "30", "-o",
                        f"-p {self.port} -k {self.workdir} -c listen_addresses={self.host} -c fsync=off", "start"],
                       check=True, capture_output=True)

    def stop(self, mode: str = "immediate") -> None:
        """``mode`` as pg_ctl's: ``fast`` is what an operator's restart does (clients are told, then cut)."""
        subprocess.run([*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
                       capture_output=True)


class Namespaces:
    """Network namespaces standing in for hosts: one LAN (a bridge), one namespace per hub "host".

    All namespaces hang off a bridge inside a LAN namespace this class creates; the
    machine itself gets one veth end with the ``.1`` address of a private /24 (where the
    test's PostgreSQL, memcached and bus publisher listen). Hubs get ``.11``, ``.12``, ...
    Nothing outside the namespaces created here is touched, and ``close`` deletes them
    all (the veth ends go with them), whatever happened.
    """

    def __init__(self, hosts: int):
        self.tag = uuid.uuid4().hex[:6]
        self.lan = f"hubs-{self.tag}-lan"
        self.names = [f"hubs-{self.tag}-h{i}" for i in range(1, hosts + 1)]
        self.subnet = self._free_subnet()
        self.host_address = f"{self.subnet}.1"
        self.addresses = [f"{self.subnet}.{10 + i}" for i in range(1, hosts + 1)]
        self.created: list[str] = []

    @staticmethod
    def _free_subnet() -> str:
        used = subprocess.run(["ip", "-o", "-4", "addr"], capture_output=True, text=True, check=True).stdout
        for _ in range(100):
            subnet = f"10.231.{uuid.uuid4().int % 250 + 1}"
            if f" {subnet}." not in used:
                return subnet
        raise RuntimeError("no free 10.231.x.0/24 subnet")

    @staticmethod
    def ip(*args: str, netns: str | None = None) -> None:
        command = ["ip", *(["-n", netns] if netns else []), *args]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")

    def exec_prefix(self, i: int) -> list[str]:
        return ["ip", "netns", "exec", self.names[i]]

    def open(self) -> None:
        ip = self.ip
        for name in [self.lan, *self.names]:
            ip("netns", "add", name)
            self.created.append(name)
            ip("link", "set", "lo", "up", netns=name)
        ip("link", "add", "br0", "type", "bridge", netns=self.lan)
        ip("link", "set", "br0", "up", netns=self.lan)
        # The machine's end: a veth whose peer is a port of the bridge.
        host_if = f"hv{self.tag}"
        ip("link", "add", host_if, "type", "veth", "peer", "name", "up0", "netns", self.lan)
        ip("addr", "add", f"{self.host_address}/24", "dev", host_if)
        ip("link", "set", host_if, "up")
        ip("link", "set", "up0", "master", "br0", "up", netns=self.lan)
        for i, (name, address) in enumerate(zip(self.names, self.addresses, strict=True), 1):
            ip("link", "add", "eth0", "netns", name, "type", "veth", "peer", "name", f"port{i}", "netns", self.lan)
            ip("addr", "add", f"{address}/24", "dev", "eth0", netns=name)
            ip("link", "set", "eth0", "up", netns=name)
            ip("link", "set", f"port{i}", "master", "br0", "up", netns=self.lan)

    def close(self) -> None:
        for name in reversed(self.created):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        self.created.clear()

    def __enter__(self) -> Namespaces:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()
