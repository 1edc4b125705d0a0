"""One suite for the store: runs against the fake and against real PostgreSQL."""

import psycopg2
import pytest
import pytest_twisted
from psycopg2.extras import Json
from twisted.internet import defer

from hubs.db.store import FakeStore, PostgresStore, StoreUnavailable
from hubs.models import Hub, NotFound

LONG_CONFIG = {"text": "x" * 100_000, "nested": {"list": list(range(1000))}}


def _seed_postgres(dsn):
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO users (username) VALUES ('mizmo'), ('ralph'), ('duffy')")
        cur.execute("INSERT INTO hubs (name, summary, left_width) VALUES ('designteam', 'Design', 8),"
                    " ('ralph', 'Me', 7)")
        for hub, plugin, col, pos, config in [
            ("designteam", "about", "left", 0, {"text": "a"}),
            ("designteam", "sticky", "left", 1, LONG_CONFIG),
            ("designteam", "stats", "right", 0, {}),
            ("ralph", "about", "left", 0, {}),
        ]:
            cur.execute("INSERT INTO widgets (hub, plugin, col, position, config) VALUES (%s,%s,%s,%s,%s)",
                        (hub, plugin, col, pos, Json(config)))
        cur.executemany("INSERT INTO roles (hub, username, role) VALUES (%s, %s, %s)", [
            ("designteam", "mizmo", "owner"), ("designteam", "duffy", "owner"),
            ("designteam", "ralph", "subscriber"), ("designteam", "ralph", "stargazer")])
    conn.close()


def _seed_fake():
    store = FakeStore()
    store.add_hub(Hub("designteam", "Design", 8))
    store.add_hub(Hub("ralph", "Me", 7))
    store.add_widget("designteam", "about", "left", 0, {"text": "a"})
    store.add_widget("designteam", "sticky", "left", 1, LONG_CONFIG)
    store.add_widget("designteam", "stats", "right", 0, {})
    store.add_widget("ralph", "about", "left", 0, {})
    for user, role in [("mizmo", "owner"), ("duffy", "owner"), ("ralph", "subscriber"), ("ralph", "stargazer")]:
        store.add_role("designteam", user, role)
    return store


@pytest.fixture(params=["fake", "postgres"])
def store(request):
    if request.param == "fake":
        yield _seed_fake()
        return
    dsn = request.getfixturevalue("empty_db")
    _seed_postgres(dsn)
    real = PostgresStore(dsn, size=2)
    pytest_twisted.blockon(defer.ensureDeferred(real.start()))
    yield real
    real.close()


@pytest_twisted.ensureDeferred
async def test_load_directory(store):
    """All hubs and widgets come back in layout order, configs of any length intact."""
    hubs, widgets = await store.load_directory()
    assert [h.name for h in hubs] == ["designteam", "ralph"]
    assert hubs[1].left_width == 7 and hubs[1].right_width == 5
    assert [(w.hub, w.plugin, w.column, w.position) for w in widgets] == [
        ("designteam", "about", "left", 0), ("designteam", "sticky", "left", 1),
        ("designteam", "stats", "right", 0), ("ralph", "about", "left", 0)]
    assert widgets[1].config == LONG_CONFIG


@pytest_twisted.ensureDeferred
async def test_hub_roles(store):
    """Roles come back grouped and sorted, every role present."""
    roles = await store.hub_roles("designteam")
    assert roles == {"owner": ["duffy", "mizmo"], "member": [], "subscriber": ["ralph"], "stargazer": ["ralph"]}
    assert (await store.hub_roles("ralph"))["owner"] == []


@pytest_twisted.ensureDeferred
async def test_update_widget_config_returns_old_and_new(store):
    """An edit returns both versions and bumps the widget's version."""
    _, widgets = await store.load_directory()
    idx = widgets[0].idx
    old, new = await store.update_widget_config(idx, {"text": "b"})
    assert old.config == {"text": "a"} and new.config == {"text": "b"}
    assert new.version == old.version + 1
    assert (await store.get_widget(idx)).config == {"text": "b"}


@pytest_twisted.ensureDeferred
async def test_unknown_ids_are_not_found(store):
    """Missing widgets and hubs raise NotFound, and nothing is written."""
    with pytest.raises(NotFound):
        await store.get_widget(999)
    with pytest.raises(NotFound):
        await store.update_widget_config(999, {})
    with pytest.raises(NotFound):
        await store.get_hub("nope")
    with pytest.raises(NotFound):
        await store.update_hub("nope", {"summary": "x"})


@pytest_twisted.ensureDeferred
async def test_update_hub(store):
    """Hub fields are updated in place; bad fields are refused without a write."""
    old, new = await store.update_hub("ralph", {"summary": "New", "left_width": 6})
    assert (old.summary, new.summary, new.left_width, new.version) == ("Me", "New", 6, old.version + 1)
    for bad in ({"name": "x"}, {"left_width": 12}, {"left_width": "6"}, {"archived": "yes"}):
        with pytest.raises(ValueError):
            await store.update_hub("ralph", bad)
    hub, widgets = await store.get_hub("ralph")
    assert hub.summary == "New" and len(widgets) == 1


@pytest_twisted.ensureDeferred
async def test_fake_can_be_told_to_fail():
    """The fake fails on demand, to test error paths."""
    store = _seed_fake()
    store.fail = StoreUnavailable("down")
    with pytest.raises(StoreUnavailable):
        await store.load_directory()


@pytest_twisted.ensureDeferred
async def test_postgres_reconnects_after_its_connections_are_killed(empty_db):
    """After the server drops our connections, a query fails, then the store recovers."""
    from twisted.internet import reactor, task

    _seed_postgres(empty_db)
    store = PostgresStore(empty_db, size=1)
    await store.start()
    try:
        await store.ping()
        admin = psycopg2.connect(empty_db)
        admin.autocommit = True
        admin.cursor().execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                               " WHERE datname = current_database() AND pid <> pg_backend_pid()")
        admin.close()
        with pytest.raises(StoreUnavailable):
            await store.ping()
        for _ in range(50):
            await task.deferLater(reactor, 0.1, lambda: None)
            try:
                await store.ping()
                break
            except StoreUnavailable:
                continue
        else:
            pytest.fail("the store did not reconnect within 5 s")
        hubs, _ = await store.load_directory()
        assert len(hubs) == 2
    finally:
        store.close()


def test_migrations_are_idempotent(pg_dsn):
    """Running the migrations again applies nothing and keeps the recorded version."""
    from hubs.db.migrate import latest_version, migrate

    assert migrate(pg_dsn) == []
    conn = psycopg2.connect(pg_dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT max(version) FROM schema_migrations")
        assert cur.fetchone()[0] == latest_version()
    conn.close()


def test_migration_names_are_checked(tmp_path):
    """Gaps and badly named files are refused before touching the database."""
    from hubs.db.migrate import discover

    (tmp_path / "0001_a.sql").write_text("")
    (tmp_path / "0003_c.sql").write_text("")
    with pytest.raises(ValueError, match="sequence"):
        discover(tmp_path)
    (tmp_path / "0003_c.sql").rename(tmp_path / "2_b.sql")
    with pytest.raises(ValueError, match="NNNN_name"):
        discover(tmp_path)


def test_a_failing_migration_leaves_nothing_half_written(pg_admin_dsn, tmp_path):
    """A migration that fails part-way is rolled back whole and not recorded."""
    import uuid

    from hubs.db.migrate import migrate
    from tests.conftest import _dsn_with_db

    name = f"hubs_mig_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(pg_admin_dsn)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    dsn = _dsn_with_db(pg_admin_dsn, name)
    try:
        (tmp_path / "0001_ok.sql").write_text("CREATE TABLE a (x int);")
        (tmp_path / "0002_bad.sql").write_text("CREATE TABLE b (x int); SELECT * FROM missing_table;")
        with pytest.raises(psycopg2.Error):
            migrate(dsn, tmp_path)
        conn = psycopg2.connect(dsn)
        with conn.cursor() as cur:
            cur.execute("SELECT version FROM schema_migrations")
            assert [r[0] for r in cur.fetchall()] == [1]
            cur.execute("SELECT to_regclass('b')")
            assert cur.fetchone()[0] is None
        conn.close()
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
