"""Run a real ``fedmsg-hub`` with the Hubs plugin in a scratch directory (tests, benchmarks).

The scratch directory gets its own ``fedmsg.d`` with free ports, so a test
hub never meets the development one. ``publish()`` sends a real bus message
from a separate process, like any other service on the bus would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from pathlib import Path

from tests.buckets import refuse_in_unit_test
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


# Ports handed out by this process, never handed out twice.
_GIVEN: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A port for a server a test starts a little later.

    Chosen *below* the kernel's ephemeral range: a port the kernel picked for us
    (bind to 0) is one it may also give, a moment later, to any outgoing
    connection — a fleet's processes open dozens to PostgreSQL and memcached
    before HAProxy binds, and one of them once took HAProxy's port (CI failed with
    "cannot bind socket (Address already in use)"). Ports outside that range are
    only ever taken by someone binding them on purpose.
    """
    import random
    low, _ = _ephemeral_range()
    start, stop = (20000, low) if low > 21000 else (61000, 65535)
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(200):
        port = rng.randrange(start, stop)
        if port in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError(f"no free port in {start}-{stop} after 200 tries")


def bus_endpoints(host: str, ports: list[int]) -> list[str]:
    """A fedmsg endpoint list: each process binds the first free one and subscribes to all."""
    return [f"tcp://{host}:{port}" for port in ports]


class HubProcess:
    """One ``fedmsg-hub`` with Hubs.

    Alone by default (its own bus endpoint and sender). In a fleet (tests/fleet.py) the
    processes get the same ``hub_endpoints`` list and ``sender`` endpoint, so every one
    hears every other's ``hubs.*`` messages and the test's; ``host`` is the address the
    web site listens on and is reached at, and ``prefix`` a command wrapping fedmsg-hub
    (``ip netns exec NAME``) for processes on other "hosts".
    """

    def __init__(self, workdir: Path, dsn: str, memcached: str, admin_token: str = "e2e-admin-token-123456",
                 extra: dict | None = None, hub_endpoints: list[str] | None = None, sender: str | None = None,
                 host: str = "127.0.0.1", web_port: int | None = None, prefix: list[str] | None = None,
                 memcached_prefix: str | None = None, env: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.dsn = dsn
        self.memcached = memcached
        self.admin_token = admin_token
        self.host = host
        self.web_port = web_port or free_port()
        self.bus_port = free_port()
        self.sender_port = free_port()
        self.hub_endpoints = hub_endpoints or bus_endpoints("127.0.0.1", [self.bus_port])
        self.sender = sender or f"tcp://127.0.0.1:{self.sender_port}"
        self.sender_port = int(self.sender.rsplit(":", 1)[1])
        self.prefix = prefix or []
        self.memcached_prefix = memcached_prefix or f"t{uuid.uuid4().hex[:8]}:"
        self.extra = extra or {}
        self.env = env or {}
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "hub.log"
        self._write_config()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.web_port}"

    def _write_config(self) -> None:
        confdir = self.workdir / "fedmsg.d"
        confdir.mkdir(parents=True, exist_ok=True)
        config = {
            "topic_prefix": "org.fedoraproject",
            "environment": "dev",
            "zmq_enabled": True,
            "validate_signatures": False,
            "sign_messages": False,
            "endpoints": {
                "hubs.hub": self.hub_endpoints,
                "test.sender": [self.sender],
            },
            "high_water_mark": 0,
            "io_threads": 1,
            "post_init_sleep": 0.2,
            "zmq_linger": 1000,
            "zmq_reconnect_ivl": 100,
            "zmq_reconnect_ivl_max": 200,
            "hubs.consumer.enabled": True,
            "hubs.web.host": self.host,
            "hubs.web.port": self.web_port,
            "hubs.db.dsn": self.dsn,
            "hubs.memcached.servers": self.memcached,
            "hubs.memcached.prefix": self.memcached_prefix,
            "hubs.publish_name": "hubs.hub",
            "hubs.admin_token": self.admin_token,
            "hubs.sse.retry_ms": 500,
            "moksha.blocking_mode": True,
            "moksha.threadpool_size": 8,
            "logging": {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {"bare": {"format": "%(asctime)s [%(name)s %(levelname)s] %(message)s"}},
                "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "bare",
                                         "level": "INFO", "stream": "ext://sys.stdout"}},
                "loggers": {name: {"level": "INFO", "propagate": False, "handlers": ["console"]}
                            for name in ("hubs", "twisted", "fedmsg", "moksha")},
            },
        }
        config.update(self.extra)
        (confdir / "test.py").write_text(
            "from hubs.limits import keep_fedmsg_hub_from_lowering\n"
            "config = " + repr(config) + "\n"
            "keep_fedmsg_hub_from_lowering(config.get('hubs.web.max_open_files', 65536))\n")

    def start(self, timeout: float = 30.0) -> None:
        refuse_in_unit_test("a fedmsg-hub process")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([*self.prefix, str(BIN / "fedmsg-hub")], cwd=self.workdir, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False

        try:
            wait_for(lambda: self.proc.poll() is not None or healthy(), timeout, "fedmsg-hub healthy", interval=0.1)
        except TimeoutError:
            # Never healthy (e.g. its consumer failed to load: moksha runs on without it): nobody will stop it.
            self.proc.kill()
            self.proc.wait()
            self._log.close()
            raise RuntimeError(f"fedmsg-hub did not become healthy in {timeout}s:\n{self.log()}") from None
        if self.proc.poll() is not None:
            raise RuntimeError(f"fedmsg-hub exited with {self.proc.returncode}:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> float:
        """Send ``sig`` and return how long the process took to exit."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self._log.close()
        return time.monotonic() - start

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def publish(self, topic: str, msg: dict, wait: float = 1.0) -> None:
        """Publish ``<prefix>.dev.<topic>`` from a separate process (endpoint test.sender)."""
        modname, _, rest = topic.partition(".")
        code = textwrap.dedent(f"""
            import time, fedmsg, fedmsg.config
            config = fedmsg.config.load_config([], None)
            config.update(name="test.sender", active=False)
            fedmsg.init(**config)
            time.sleep({wait})  # let the hub's subscriber connect: ZeroMQ drops earlier messages
            fedmsg.publish(topic={rest!r}, modname={modname!r}, msg=json.loads({json.dumps(msg)!r}))
            time.sleep(0.3)  # fedmsg: a process that publishes and exits at once loses the message (STACK-NOTES)
        """)
        subprocess.run([sys.executable, "-c", "import json\n" + code], cwd=self.workdir, check=True,
                       timeout=30, capture_output=True)

    def publish_raw(self, frames: list[list[bytes]], wait: float = 1.0) -> None:
        """Send raw ZeroMQ multipart frames from the sender endpoint (for malformed messages)."""
        import base64

        code = textwrap.dedent(f"""
            import base64, json, sys, time, zmq
            frames = [[base64.b64decode(p) for p in parts] for parts in json.load(sys.stdin)]
            ctx = zmq.Context()
            sock = ctx.socket(zmq.PUB)
            sock.bind("tcp://127.0.0.1:{self.sender_port}")
            time.sleep({wait})  # let the hub's subscriber connect: ZeroMQ drops earlier messages
            for parts in frames:
                sock.send_multipart(parts)
            time.sleep(0.3)  # let the frames leave before the socket closes
            sock.close(linger=1000)
        """)
        payload = json.dumps([[base64.b64encode(p).decode() for p in parts] for parts in frames])
        subprocess.run([sys.executable, "-c", code], input=payload.encode(), check=True, timeout=30,
                       capture_output=True)

    def get(self, path: str, **headers) -> tuple[int, bytes, dict]:
        request = urllib.request.Request(self.url + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read(), dict(e.headers)

    def stream(self, hub: str, last_event_id: str | None = None) -> BlockingStream:
        return BlockingStream(self.web_port, f"/{hub}/events", last_event_id, host=self.host)

    def post_json(self, path: str, body, token: str | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json",
                   "Authorization": f"Bearer {token if token is not None else self.admin_token}"}
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()


class BlockingStream:
    """A blocking EventSource reader (http.client decodes the chunked body)."""

    def __init__(self, port: int, path: str, last_event_id: str | None = None, timeout: float = 10.0,
                 host: str = "127.0.0.1"):
        import http.client

        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.conn.request("GET", path, headers=headers)
        self.response = self.conn.getresponse()

    def next_event(self, kind: str | None = None, deadline: float = 10.0) -> dict:
        """Read events until one of ``kind`` (any if None) arrives."""
        end = time.monotonic() + deadline
        event: dict = {}
        data = []
        while time.monotonic() < end:
            line = self.response.readline().decode("utf-8")
            if not line:
                raise EOFError("stream closed")
            line = line.rstrip("\r\n")
            if line == "":
                if data:
                    event["data"] = "\n".join(data)
                    event.setdefault("event", "message")
                    if kind is None or event["event"] == kind:
                        return event
                event, data = {}, []
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            elif name in ("event", "id"):
                event[name] = value
        raise TimeoutError(f"no {kind or 'any'} event within {deadline}s")

    def close(self) -> None:
        self.conn.close()
