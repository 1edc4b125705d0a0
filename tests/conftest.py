"""Shared fixtures: real PostgreSQL and memcached (required under CI=true), fakes."""

from __future__ import annotations

import os
import uuid

import psycopg2
import pytest
from twisted.internet.task import Clock

from hubs.build.cache import FakeCache
from hubs.bus.publish import FakeBus
from hubs.config import HubsConfig
from hubs.db.migrate import migrate
from hubs.testing.store import FakeStore
from tests import buckets
from tests.waiting import wait_for

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Every test in one bucket, unit or integration (tests/buckets.py), before ``-m`` selects."""
    for item in items:
        kind = buckets.bucket(item)
        if kind == "integration" and item.get_closest_marker("unit"):
            raise pytest.UsageError(f"{item.nodeid} is marked unit but uses a service (tests/buckets.py)")
        item.add_marker(kind)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    buckets.entering(item)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item):
    buckets.leaving()


def need_service(name: str, why: str):
    """Skip locally, fail under CI: tests that need a real service must run there."""
    message = f"{name} is not available: {why}"
    if IN_CI:
        pytest.fail(message + " (CI=true: real services are required)", pytrace=False)
    pytest.skip(message)


def _dsn_with_db(dsn: str, dbname: str) -> str:
    params = psycopg2.extensions.parse_dsn(dsn)
    params["dbname"] = dbname
    return psycopg2.extensions.make_dsn(**params)


@pytest.fixture(scope="session")
def pg_admin_dsn():
    buckets.refuse_in_unit_test("PostgreSQL")
    dsn = os.environ.get("HUBS_TEST_DSN")
    if not dsn:
        need_service("PostgreSQL", "set HUBS_TEST_DSN (make test does it)")
    try:
        psycopg2.connect(dsn, connect_timeout=3).close()
    except psycopg2.Error as e:
        need_service("PostgreSQL", str(e).strip())
    return dsn


@pytest.fixture(scope="session")
def pg_dsn(pg_admin_dsn):
    """A fresh database with the schema, dropped at the end of the session."""
    name = f"hubs_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(pg_admin_dsn)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    dsn = _dsn_with_db(pg_admin_dsn, name)
    migrate(dsn)
    yield dsn
    admin.cursor().execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,))
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


@pytest.fixture
def empty_db(pg_dsn):
    """The test database, emptied (schema kept)."""
    conn = psycopg2.connect(pg_dsn)
    with conn, conn.cursor() as cur:
        cur.execute("TRUNCATE roles, widgets, hubs, users, messages, message_ids, stream_items, hub_items,"
                    " stream_marks, follows, mutes, stream_filters, backfill_jobs RESTART IDENTITY CASCADE")
        # The message store's months as a fresh migration leaves them: this month and the next.
        cur.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " WHERE i.inhparent = 'messages'::regclass AND c.relname <> 'messages_default'")
        for (name,) in cur.fetchall():
            cur.execute(f'DROP TABLE "{name}"')
        cur.execute("SELECT hubs_message_partition(now()::date),"
                    " hubs_message_partition((now() + interval '1 month')::date)")
    conn.close()
    return pg_dsn


def fresh_database(admin_dsn: str, prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return _dsn_with_db(admin_dsn, name)


def drop_database(admin_dsn: str, dsn: str) -> None:
    name = psycopg2.extensions.parse_dsn(dsn)["dbname"]
    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    admin.cursor().execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,))
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


@pytest.fixture(scope="module")
def demo_db(pg_admin_dsn, canned_services_process):
    """A database with the schema and the demo data (populate.py), team calendars on the canned services."""
    from hubs.db.populate import load_demo

    dsn = fresh_database(pg_admin_dsn, "hubs_demo")
    migrate(dsn)
    load_demo(dsn, fedocal_url=canned_services_process)
    yield dsn
    drop_database(pg_admin_dsn, dsn)


@pytest.fixture(scope="session")
def memcached_servers():
    buckets.refuse_in_unit_test("memcached")
    servers = os.environ.get("HUBS_TEST_MEMCACHED")
    if not servers:
        need_service("memcached", "set HUBS_TEST_MEMCACHED (make test does it)")
    from hubs.build.cache import CacheUnavailable, MemcachedCache

    parsed = [(h, int(p)) for h, _, p in (s.strip().rpartition(":") for s in servers.split(","))]
    cache = MemcachedCache(parsed)
    try:
        cache.ping()
    except CacheUnavailable as e:
        need_service("memcached", str(e))
    finally:
        cache.close()
    return parsed


def make_config(**overrides) -> HubsConfig:
    raw = {
        "hubs.db.dsn": "dbname=unused",
        "hubs.memcached.servers": "127.0.0.1:1",
        "hubs.web.port": 0,
        "hubs.admin_token": "s3cret-token-for-tests",
        "hubs.widget.timeout": 5.0,
        "hubs.widget.retry": 30.0,
        "hubs.junk_suffixes": ["buildsys.repo.init"],
    }
    raw.update(overrides)
    return HubsConfig.from_fedmsg(raw)


@pytest.fixture
def config():
    return make_config()


@pytest.fixture
def clock():
    """The one clock of a unit test's Hubs, at 1000 s (versions start at 1,000,000 ms)."""
    c = Clock()
    c.advance(1000)
    return c


@pytest.fixture
def fake_store(clock):
    """A small hub in the fake store: designteam with five widgets (seeded through the store's methods)."""
    import pytest_twisted
    from twisted.internet import defer

    from hubs.testing.harness import seed_small

    store = FakeStore(clock)
    pytest_twisted.blockon(defer.ensureDeferred(seed_small(store)))
    return store


@pytest.fixture
def fake_cache(clock):
    return FakeCache(clock)


@pytest.fixture
def fake_bus():
    return FakeBus()


@pytest.fixture(scope="session")
def canned_services():
    """The canned Badges/Bodhi/Pagure/iCalendar server, in-process on a free port; yields its base URL."""
    import pytest_twisted
    from twisted.internet import defer, reactor
    from twisted.web.server import Site

    from hubs.demo.services import CannedServices

    site = Site(CannedServices().app.resource())
    site.log = lambda request: None
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    yield f"http://127.0.0.1:{port.getHost().port}"
    pytest_twisted.blockon(defer.maybeDeferred(port.stopListening))


def services_config(base: str, **overrides) -> HubsConfig:
    return make_config(**{"hubs.services.badges_url": base, "hubs.services.bodhi_url": base,
                          "hubs.services.pagure_url": base, "hubs.services.timeout": 2.0,
                          "hubs.fasjson.url": base, "hubs.distgit.url": base,
                          "hubs.services.allow_private_urls": True, **overrides})


@pytest.fixture(scope="session")
def canned_services_process():
    """The canned services as a separate process (for real hub processes); yields its base URL."""
    import subprocess
    import sys
    import urllib.request

    from tests.hubproc import free_port

    buckets.refuse_in_unit_test("the canned services process")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "hubs.demo.services", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            urllib.request.urlopen(base + "/user/ralph/json", timeout=1).read()
            return True
        except OSError:
            return False

    wait_for(lambda: proc.poll() is not None or answers(), 20, "the canned services process")
    assert proc.poll() is None, f"the canned services process exited with {proc.returncode}"
    yield base
    proc.terminate()
    proc.wait()


def services_settings(base: str) -> dict:
    """fedmsg.d keys pointing every outside service at ``base``."""
    return {**{f"hubs.services.{name}_url": base for name in ("badges", "bodhi", "pagure", "fedocal")},
            "hubs.fasjson.url": base, "hubs.distgit.url": base,
            "hubs.services.allow_private_urls": True,
            # Hub processes of the tests fetch no history unless a test says so (their feeds show the demo
            # data's messages): backfills are queued and walked, but this datagrepper always fails (and they
            # back off). A test that wants the canned history sets hubs.backfill.url to ``base``.
            "hubs.backfill.url": base + "/broken"}


OIDC_DIR = __import__("pathlib").Path(__file__).parent / "oidc"


class OIDCProvider:
    """The local OpenID Connect provider (node-oidc-provider) the login tests use."""

    client_id = "hubs"
    client_secret = "hubs-test-client-secret-0123456789"

    def __init__(self, port: int, redirect_uri: str):
        import shutil
        import subprocess

        buckets.refuse_in_unit_test("the OIDC provider")
        node = shutil.which("node")
        if node is None or not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
            need_service("the test OIDC provider", "needs node and `npm ci --prefix tests/oidc` (make test does it)")
        self.issuer = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([node, str(OIDC_DIR / "provider.mjs"), str(port), redirect_uri,
                                      self.client_secret], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in self.proc.stdout:
            if line.startswith("ready"):
                break
        else:
            raise RuntimeError("the OIDC provider did not start")

    def settings(self) -> dict:
        return {"hubs.oidc.issuer": self.issuer, "hubs.oidc.client_id": self.client_id,
                "hubs.oidc.client_secret": self.client_secret,
                "hubs.session_secret": "test-session-secret-0123456789-abcdef"}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


@pytest.fixture
def hubs(config, fake_store, fake_cache, fake_bus, clock):
    """A whole Hubs on fakes, wired as in production (``hubs.testing.harness``)."""
    import pytest_twisted
    from twisted.internet import defer

    from hubs.testing.harness import make_hubs

    return pytest_twisted.blockon(defer.ensureDeferred(make_hubs(config, fake_store, fake_cache, fake_bus, clock)))


# ---------------------------------------------------------------- RabbitMQ (Fedora Messaging)

AMQP_DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def _amqp_reachable(url: str) -> bool:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def amqp_url():
    """The test broker: HUBS_TEST_AMQP_URL, else the machine's RabbitMQ (required under CI=true)."""
    buckets.refuse_in_unit_test("RabbitMQ")
    url = os.environ.get("HUBS_TEST_AMQP_URL") or AMQP_DEFAULT_URL
    if not _amqp_reachable(url):
        need_service("RabbitMQ", f"nothing answers at {url} (set HUBS_TEST_AMQP_URL or start rabbitmq-server)")
    return url


class PrivateRabbitMQ:
    """A RabbitMQ node of our own (Debian's rabbitmq-server), so a test may stop and start it."""

    def __init__(self, port: int):
        import shutil
        import tempfile

        self.port = port
        self.node = f"hubstest{port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{port}/%2F"
        if shutil.which("rabbitmq-server") is None or shutil.which("rabbitmqctl") is None:
            need_service("rabbitmq-server", "Debian's rabbitmq-server package is not installed")
        self.dir = tempfile.mkdtemp(prefix="hubs-rabbitmq-")
        with open(f"{self.dir}/rabbitmq.conf", "w") as f:
            f.write(f"listeners.tcp.local = 127.0.0.1:{port}\nloopback_users = none\n")
        with open(f"{self.dir}/enabled_plugins", "w") as f:
            f.write("[].\n")
        if os.getuid() == 0:
            shutil.chown(self.dir, "rabbitmq", "rabbitmq")
            for name in ("rabbitmq.conf", "enabled_plugins"):
                shutil.chown(f"{self.dir}/{name}", "rabbitmq", "rabbitmq")
        self.env = dict(os.environ, RABBITMQ_NODENAME=self.node, RABBITMQ_DIST_PORT=str(port + 20000),
                        RABBITMQ_CONFIG_FILE=f"{self.dir}/rabbitmq.conf", RABBITMQ_MNESIA_BASE=f"{self.dir}/mnesia",
                        RABBITMQ_LOG_BASE=f"{self.dir}/log",
                        RABBITMQ_ENABLED_PLUGINS_FILE=f"{self.dir}/enabled_plugins",
                        RABBITMQ_PID_FILE=f"{self.dir}/pid")
        self.proc = None

    def start(self, timeout: float = 60.0) -> None:
        import subprocess

        buckets.refuse_in_unit_test("a private RabbitMQ node")
        if _amqp_reachable(self.url):
            need_service("a private RabbitMQ node", f"port {self.port} is taken (HUBS_TEST_PRIVATE_AMQP_PORT)")
        self.proc = subprocess.Popen(["rabbitmq-server"], env=self.env, cwd=self.dir, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for(lambda: self.proc.poll() is not None or _amqp_reachable(self.url), timeout, "rabbitmq-server",
                     interval=0.2)
        except TimeoutError:
            pass
        if self.proc.poll() is not None or not _amqp_reachable(self.url):
            self.stop()
            need_service("a private RabbitMQ node", f"rabbitmq-server did not start (see {self.dir}/log)")

    def ctl(self, *args: str) -> None:
        import subprocess

        subprocess.run(["rabbitmqctl", "-n", self.node, *args], env=self.env, check=True, timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        import shutil
        import subprocess

        if self.proc is not None and self.proc.poll() is None:
            try:
                self.ctl("shutdown")
            except (subprocess.SubprocessError, OSError):
                os.killpg(self.proc.pid, 15)
            self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def private_rabbitmq():
    """A RabbitMQ node only this test session uses (it may be stopped and started: nobody else notices)."""
    broker = PrivateRabbitMQ(int(os.environ.get("HUBS_TEST_PRIVATE_AMQP_PORT", "5679")))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def private_postgres():
    """A PostgreSQL cluster only this test uses (it may be stopped and started: nobody else notices)."""
    import shutil
    import tempfile
    from pathlib import Path

    from tests.fleet import PrivatePostgres

    workdir = Path(tempfile.mkdtemp(prefix="hubs-pg-"))  # not under pytest's 0700 tree: initdb runs as postgres
    try:
        pg = PrivatePostgres(workdir, "127.0.0.1")
    except FileNotFoundError as e:
        shutil.rmtree(workdir, ignore_errors=True)
        need_service("PostgreSQL server binaries", str(e))
    pg.start()
    try:
        migrate(pg.admin_dsn)
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def hub(tmp_path_factory, demo_db, memcached_servers, canned_services_process):
    """A real fedmsg-hub on the demo data with the canned services, one per test module (a module may override)."""
    from tests.hubproc import HubProcess

    servers = ",".join(f"{h}:{p}" for h, p in memcached_servers)
    process = HubProcess(tmp_path_factory.mktemp("hub"), demo_db, servers,
                         extra=services_settings(canned_services_process))
    process.start()
    yield process
    process.stop()
