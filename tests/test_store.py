"""One suite for the store: runs against the fake and against real PostgreSQL."""

import inspect

import psycopg2
import pytest
import pytest_twisted
from twisted.internet import defer

from hubs.db.store import PostgresStore, Store, StoreUnavailable
from hubs.models import Hub, NotFound
from hubs.testing.store import FakeStore

LONG_CONFIG = {"text": "x" * 100_000, "nested": {"list": list(range(1000))}}


async def _seed(store):
    """The same data in either backend, written through the store's own methods."""
    for name in ("mizmo", "ralph", "duffy"):
        await store.upsert_user(name, "", "")
    await store.create_hub(Hub("designteam", "Design", 8), [("left", "about", {"text": "a"}),
                                                             ("left", "sticky", LONG_CONFIG),
                                                             ("right", "stats", {})], ["mizmo", "duffy"])
    await store.create_hub(Hub("ralph", "Me", 7), [("left", "about", {})], [])
    await store.set_role("designteam", "ralph", "subscriber", True)
    await store.set_role("designteam", "ralph", "stargazer", True)
    return store


def _seed_fake():
    return pytest_twisted.blockon(defer.ensureDeferred(_seed(FakeStore())))


@pytest.fixture(params=["fake", pytest.param("postgres", marks=pytest.mark.integration)])
def store(request):
    if request.param == "fake":
        yield _seed_fake()
        return
    dsn = request.getfixturevalue("empty_db")
    real = PostgresStore(dsn, size=2)
    pytest_twisted.blockon(defer.ensureDeferred(real.start()))
    pytest_twisted.blockon(defer.ensureDeferred(_seed(real)))
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
async def test_all_roles(store):
    """Every role of every hub, as (hub, username, role)."""
    assert await store.all_roles() == [("designteam", "duffy", "owner"), ("designteam", "mizmo", "owner"),
                                       ("designteam", "ralph", "stargazer"), ("designteam", "ralph", "subscriber")]


async def _signatures_from_reads(store):
    """Each hub's signature computed in Python from what the store's reads return."""
    from hubs.directory.converge import hub_signature

    hubs, _ = await store.load_directory()
    found = {}
    for hub in hubs:
        _, widgets = await store.get_hub(hub.name)
        roles = await store.hub_roles(hub.name)
        found[hub.name] = hub_signature(hub, widgets, [(r, u) for r, names in roles.items() for u in names])
    return found


async def _punctuated_members(store):
    """People whose names sort differently by byte and by a language's collation (the signature uses bytes)."""
    for name in ("a-c", "ab", "a_b", "a.b"):
        await store.upsert_user(name, "", "")
        await store.set_role("designteam", name, "member", True)


@pytest_twisted.ensureDeferred
async def test_hub_signatures_agree_with_the_reads_and_follow_every_edit(store):
    """One signature a hub, the same as Python computes from its reads; every kind of change changes it."""
    from hubs.directory.converge import overall_signature

    before = await store.hub_signatures()
    assert before == await _signatures_from_reads(store) and set(before) == {"designteam", "ralph"}
    assert await store.overall_signature() == overall_signature(before)
    _, widgets = await store.get_hub("designteam")
    edits = [
        lambda: store.update_widget_config(widgets[0].idx, {"text": "b"}),
        lambda: store.move_widget("designteam", widgets[0].idx, "right", 0),
        lambda: store.add_widget("designteam", "about", "left", {}),
        lambda: store.remove_widget("designteam", widgets[1].idx),
        lambda: store.set_role("designteam", "ralph", "member", True),
        lambda: store.set_role("designteam", "duffy", "owner", False),
        lambda: store.update_hub("designteam", {"archived": True}),
        lambda: store.create_hub(Hub("new-team_1.x"), [], ["ralph"]),
        lambda: _punctuated_members(store),
    ]
    for edit in edits:
        await edit()
        after = await store.hub_signatures()
        assert after != before and after == await _signatures_from_reads(store)
        assert await store.overall_signature() == overall_signature(after)
        assert after["ralph"] == before["ralph"]  # another hub's edits leave it alone
        before = after


@pytest_twisted.ensureDeferred
async def test_hub_signatures_come_a_page_at_a_time_by_name(store):
    """Pages of hubs by name, each starting after the last name of the one before, make up the whole."""
    for name in ("a-b", "ab", "a_b", "a.b", "zz"):
        await store.create_hub(Hub(name), [], [])
    whole = await store.hub_signatures()
    pages, after = [], ""
    while page := await store.hub_signatures(after=after, limit=2):
        assert len(page) <= 2
        pages.append(page)
        after = next(reversed(page))
    assert len(pages) == 4 and [n for p in pages for n in p] == list(whole) and len(whole) == 7
    assert {n: s for p in pages for n, s in p.items()} == whole


@pytest.mark.integration
@pytest_twisted.ensureDeferred
async def test_an_empty_store_has_the_signature_of_nothing(empty_db):
    """No hub at all: the overall signature is the md5 of the empty text, as Python computes it."""
    from hubs.directory.converge import overall_signature

    real = await PostgresStore(empty_db, size=1).start()
    try:
        assert await real.hub_signatures() == {} and await real.overall_signature() == overall_signature({})
    finally:
        real.close()


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


def _signature(cls, name):
    return inspect.signature(getattr(cls, name))


@pytest.mark.parametrize("name", sorted(n for n in vars(Store) if not n.startswith("_")))
@pytest.mark.parametrize("backend", [PostgresStore, FakeStore])
def test_backends_implement_the_store_protocol(backend, name):
    """Every method of the Store protocol exists on both backends with the same parameters and kind."""
    expected, actual = getattr(Store, name), getattr(backend, name, None)
    assert actual is not None, f"{backend.__name__} lacks {name}"
    assert list(_signature(backend, name).parameters) == list(_signature(Store, name).parameters)
    assert inspect.iscoroutinefunction(actual) == inspect.iscoroutinefunction(expected), name


@pytest_twisted.ensureDeferred
async def test_fake_can_be_told_to_fail():
    """The fake fails on demand, to test error paths."""
    store = await _seed(FakeStore())
    store.fail = StoreUnavailable("down")
    with pytest.raises(StoreUnavailable):
        await store.load_directory()


@pytest_twisted.ensureDeferred
async def test_postgres_reconnects_after_its_connections_are_killed(empty_db):
    """After the server drops our connections, a query fails, then the store recovers."""
    from twisted.internet import reactor, task

    store = PostgresStore(empty_db, size=1)
    await store.start()
    await _seed(store)
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


def _msg(n, ts, usernames=(), category="bodhi", packages=()):
    from hubs.models import StoredMessage

    return StoredMessage(msg_id=f"m{n}", topic=f"org.fedoraproject.prod.{category}.x", category=category,
                         ts=float(ts), usernames=tuple(usernames), packages=tuple(packages), body={"n": n})


@pytest_twisted.ensureDeferred
async def test_messages_round_trip_and_skip_duplicates(store):
    """Bulk inserts store every field and skip msg_ids already stored."""
    added = await store.add_messages([_msg(1, 1000, ["ralph"], packages=["kernel"]), _msg(2, 2000, ["mizmo"])])
    assert added == 2
    assert await store.add_messages([_msg(1, 1000, ["ralph"]), _msg(3, 3000, ["ralph", "mizmo"])]) == 1
    (latest, first) = await store.recent_messages(usernames=["ralph"])
    assert (latest.msg_id, first.msg_id) == ("m3", "m1")
    assert first.packages == ("kernel",) and first.body == {"n": 1} and first.ts == 1000.0
    assert first.topic == "org.fedoraproject.prod.bodhi.x" and first.category == "bodhi"


@pytest_twisted.ensureDeferred
async def test_recent_messages_filters_and_pages(store):
    """Messages match by any username or category, newest first, and page with a (ts, id) cursor."""
    await store.add_messages([_msg(i, 1000 + i, ["ralph"] if i % 2 else ["mizmo"],
                                   category="git" if i % 3 == 0 else "bodhi") for i in range(1, 31)])
    page1 = await store.recent_messages(usernames=["ralph"], limit=5)
    assert [m.msg_id for m in page1] == ["m29", "m27", "m25", "m23", "m21"]
    page2 = await store.recent_messages(usernames=["ralph"], limit=5, before=(page1[-1].ts, page1[-1].id))
    assert [m.msg_id for m in page2] == ["m19", "m17", "m15", "m13", "m11"]
    git = await store.recent_messages(categories=["git"], limit=100)
    assert {m.msg_id for m in git} == {f"m{i}" for i in range(3, 31, 3)}
    both = await store.recent_messages(usernames=["mizmo"], categories=["git"], limit=100)
    assert len(both) == 15 + 5  # 15 by mizmo, plus the 5 git messages by ralph
    assert await store.recent_messages() == []


@pytest_twisted.ensureDeferred
async def test_counts_last_time_and_activity(store):
    """Counts, the latest message time and activity by day and category come from the store."""
    day = 86400
    await store.add_messages([_msg(1, 10 * day + 5, ["ralph"], "git"), _msg(2, 10 * day + 9, ["ralph"], "git"),
                              _msg(3, 11 * day, ["ralph", "mizmo"], "bodhi"), _msg(4, 12 * day, ["mizmo"], "git")])
    assert await store.message_count("ralph") == 3 and await store.message_count("nobody") == 0
    assert await store.last_message_time(["ralph"]) == 11 * day
    assert await store.last_message_time(["ralph", "mizmo"]) == 12 * day
    assert await store.last_message_time([]) is None and await store.last_message_time(["nobody"]) is None
    assert await store.activity_by_day(["ralph"], since=10 * day) == [
        ("1970-01-11", "git", 2), ("1970-01-12", "bodhi", 1)]
    assert await store.activity_by_day(["ralph"], since=11 * day) == [("1970-01-12", "bodhi", 1)]


def _at(day: str) -> float:
    import datetime

    return datetime.datetime.fromisoformat(day).replace(tzinfo=datetime.UTC).timestamp()


def _analyze(store) -> None:
    """Let PostgreSQL's planner count the rows (the row cap reads its estimates)."""
    if isinstance(store, PostgresStore):
        conn = psycopg2.connect(store._dsn)
        conn.autocommit = True
        conn.cursor().execute("ANALYZE messages")
        conn.close()


async def _months(store) -> dict[str, int]:
    return {name: rows for name, rows in await store.message_partitions() if name.startswith("messages_p2040")}


@pytest_twisted.ensureDeferred
async def test_prune_by_age_deletes_stragglers_of_the_default_partition(store):
    """Messages outside every month partition are deleted one by one once older than the limit."""
    await store.add_messages([_msg(i, 1000 + i, ["ralph"]) for i in range(1, 21)])
    assert await store.prune_messages(older_than=1006, max_rows=1000, now=_at("2040-03-15")) == 5
    left = await store.recent_messages(usernames=["ralph"], limit=100)
    assert [m.msg_id for m in left] == [f"m{i}" for i in range(20, 5, -1)]


@pytest_twisted.ensureDeferred
async def test_partitions_are_created_ahead_once(store):
    """This month's partition and the next ones are created ahead, once; a message lands in its month."""
    created = await store.ensure_partitions(_at("2040-03-15"), ahead=2)
    assert created == ["messages_p2040_03", "messages_p2040_04", "messages_p2040_05"]
    assert await store.ensure_partitions(_at("2040-03-20"), ahead=2) == []
    await store.add_messages([_msg(1, _at("2040-04-02"), ["ralph"])])
    assert await _months(store) == {"messages_p2040_03": 0, "messages_p2040_04": 0 if isinstance(
        store, PostgresStore) else 1, "messages_p2040_05": 0}  # PostgreSQL counts after ANALYZE only
    _analyze(store)
    assert (await _months(store))["messages_p2040_04"] == 1


@pytest_twisted.ensureDeferred
async def test_a_month_created_late_takes_its_messages_from_the_default_partition(store):
    """Messages stored before their month existed move into it when it is created, none lost."""
    await store.add_messages([_msg(i, _at("2040-01-10") + i, ["ralph"]) for i in range(1, 6)])
    assert await store.ensure_partitions(_at("2040-01-20"), ahead=0) == ["messages_p2040_01"]
    _analyze(store)
    assert await _months(store) == {"messages_p2040_01": 5}
    assert len(await store.recent_messages(usernames=["ralph"], limit=100)) == 5


@pytest_twisted.ensureDeferred
async def test_retention_drops_whole_old_months_on_an_advanced_clock(store):
    """As the clock passes the age limit, whole months are dropped; the month holding the limit stays whole."""
    from twisted.internet.task import Clock

    from hubs.db.recorder import Pruner

    clock = Clock()
    clock.advance(_at("2040-01-15"))
    pruner = Pruner(store, clock, max_age_days=40, max_rows=10**9, interval=86400, ahead=1)
    await pruner.prune()  # what its loop runs every interval
    await store.add_messages([_msg(i, _at(f"2040-0{1 + i % 3}-{10 + i}"), ["ralph"]) for i in range(9)])
    clock.advance(30 * 86400)  # 2040-02-14: January is not 40 days old yet
    await pruner.prune()
    assert pruner.created == ["messages_p2040_03"] and pruner.last_deleted == 0
    clock.advance(30 * 86400)  # 2040-03-15: the limit is 2040-02-04; January is wholly older
    await pruner.prune()
    assert pruner.last_deleted == 3
    assert "messages_p2040_01" not in await _months(store)
    left = await store.recent_messages(usernames=["ralph"], limit=100)
    assert sorted({m.ts >= _at("2040-02-01") for m in left}) == [True] and len(left) == 6
    assert await store.add_messages([_msg(0, _at("2040-01-10"), ["ralph"])]) == 1  # its id is free again


@pytest_twisted.ensureDeferred
async def test_the_row_cap_drops_the_oldest_whole_months_never_the_current_one(store):
    """Over the cap, the oldest months go first, whole; the current month is kept even over the cap."""
    await store.ensure_partitions(_at("2040-01-15"), ahead=2)
    await store.add_messages([_msg(i, _at(f"2040-0{1 + i % 3}-{10 + i}"), ["ralph"]) for i in range(9)])
    _analyze(store)
    assert await store.prune_messages(older_than=0, max_rows=4, now=_at("2040-03-20")) == 6
    assert set(await _months(store)) == {"messages_p2040_03"}
    assert await store.prune_messages(older_than=0, max_rows=1, now=_at("2040-03-20")) == 0


@pytest_twisted.ensureDeferred
async def test_a_message_id_is_stored_once_across_months(store):
    """A msg_id already stored is skipped even when it comes back with a time in another month."""
    await store.ensure_partitions(_at("2040-01-15"), ahead=2)
    assert await store.add_messages([_msg(1, _at("2040-01-31T23:59:59"), ["ralph"])]) == 1
    assert await store.add_messages([_msg(1, _at("2040-02-01T00:00:01"), ["ralph"]),
                                     _msg(2, _at("2040-03-01"), ["ralph"]), _msg(2, _at("2040-02-01"), ["ralph"])]) == 1
    assert [m.msg_id for m in await store.recent_messages(usernames=["ralph"], limit=10)] == ["m2", "m1"]


@pytest_twisted.ensureDeferred
async def test_user_roles_and_users(store):
    """A person's hubs by role, and their account."""
    roles = await store.user_roles("ralph")
    assert roles == {"owner": [], "member": [], "subscriber": ["designteam"], "stargazer": ["designteam"]}
    assert (await store.get_user("mizmo")).username == "mizmo"
    assert await store.get_user("nobody") is None


# ---------------------------------------------------------------- accounts and editing


@pytest_twisted.ensureDeferred
async def test_versions_guard_against_stale_edits(store):
    """An edit based on an old version is refused with the current state, and nothing is written."""
    from hubs.models import Conflict

    _, widgets = await store.load_directory()
    w = widgets[0]
    _, new = await store.update_widget_config(w.idx, {"text": "b"}, expected_version=w.version)
    with pytest.raises(Conflict) as info:
        await store.update_widget_config(w.idx, {"text": "c"}, expected_version=w.version)
    assert info.value.current.config == {"text": "b"} and info.value.current.version == new.version
    hub, _ = await store.get_hub("ralph")
    with pytest.raises(Conflict):
        await store.update_hub("ralph", {"summary": "x"}, expected_version=hub.version + 5)
    assert (await store.get_hub("ralph"))[0].summary == "Me"


@pytest_twisted.ensureDeferred
async def test_users_sessions_and_tokens(store):
    """Users are created once; sessions and tokens are found by hash and can be revoked."""
    user, created = await store.upsert_user("newbie", "New Bie", "n@example.org")
    assert created and user.fullname == "New Bie" and not user.is_admin
    user, created = await store.upsert_user("newbie", "New B.", "n@example.org")
    assert not created and user.fullname == "New B."
    ends = __import__("time").time() + 60
    await store.create_session(b"h" * 32, "newbie", "csrf-1", expires_at=ends)
    found, csrf, expires_at = await store.get_session(b"h" * 32)
    assert found.username == "newbie" and csrf == "csrf-1" and abs(expires_at - ends) < 0.01
    assert await store.get_session(b"x" * 32) is None
    await store.create_session(b"old" + b"o" * 29, "newbie", "c", expires_at=1000)
    assert await store.get_session(b"old" + b"o" * 29) is None
    await store.delete_session(b"h" * 32)
    assert await store.get_session(b"h" * 32) is None
    await store.create_api_token(b"t" * 32, "newbie", "ci")
    assert (await store.token_user(b"t" * 32)).username == "newbie"
    assert await store.token_user(b"u" * 32) is None


@pytest_twisted.ensureDeferred
async def test_create_hub_with_its_widgets_and_owner(store):
    """A new hub comes with its widgets and owners in one go; a taken name is a conflict."""
    from hubs.models import Conflict

    await store.upsert_user("newbie", "", "")
    await store.create_hub(Hub("newteam", "A team"), [("left", "about", {"text": "hi"}), ("right", "stats", {}),
                                                      ("left", "sticky", {"text": "n"})], ["newbie"])
    hub, widgets = await store.get_hub("newteam")
    assert hub.summary == "A team" and [(w.plugin, w.column, w.position) for w in widgets] == [
        ("about", "left", 0), ("sticky", "left", 1), ("stats", "right", 0)]
    assert (await store.hub_roles("newteam"))["owner"] == ["newbie"]
    with pytest.raises(Conflict):
        await store.create_hub(Hub("newteam"), [], [])


@pytest_twisted.ensureDeferred
async def test_add_move_remove_widgets_keep_positions_dense(store):
    """Adding appends, moving reorders (across columns too), removing closes the gap; each bumps the hub."""
    before, _ = await store.get_hub("designteam")
    added = await store.add_widget("designteam", "dummy", "left", {"text": "x"})
    assert (added.column, added.position) == ("left", 2)
    await store.move_widget("designteam", added.idx, "left", 0)
    _, widgets = await store.get_hub("designteam")
    assert [(w.plugin, w.position) for w in widgets if w.column == "left"] == [("dummy", 0), ("about", 1),
                                                                                ("sticky", 2)]
    await store.move_widget("designteam", added.idx, "right", 99)
    _, widgets = await store.get_hub("designteam")
    assert [(w.plugin, w.position) for w in widgets if w.column == "left"] == [("about", 0), ("sticky", 1)]
    assert [(w.plugin, w.position) for w in widgets if w.column == "right"] == [("stats", 0), ("dummy", 1)]
    removed = await store.remove_widget("designteam", widgets[0].idx)
    _, widgets = await store.get_hub("designteam")
    assert removed.plugin == "about" and [(w.plugin, w.position) for w in widgets if w.column == "left"] == [
        ("sticky", 0)]
    after, _ = await store.get_hub("designteam")
    assert after.version > before.version
    with pytest.raises(NotFound):
        await store.remove_widget("ralph", widgets[0].idx)  # not ralph's widget
    with pytest.raises(ValueError):
        await store.move_widget("designteam", widgets[0].idx, "middle", 0)


@pytest_twisted.ensureDeferred
async def test_set_role_reports_changes(store):
    """Adding or removing a role says whether anything changed."""
    assert await store.set_role("ralph", "mizmo", "subscriber", True) is True
    assert await store.set_role("ralph", "mizmo", "subscriber", True) is False
    assert (await store.hub_roles("ralph"))["subscriber"] == ["mizmo"]
    assert await store.set_role("ralph", "mizmo", "subscriber", False) is True
    assert await store.set_role("ralph", "mizmo", "subscriber", False) is False
    with pytest.raises(ValueError):
        await store.set_role("ralph", "mizmo", "king", True)


@pytest_twisted.ensureDeferred
async def test_accounts_are_tied_to_one_identity(store):
    """The first identity to log into an account name keeps it; another one is refused."""
    await store.upsert_user("newbie", "", "")
    await store.upsert_user("other", "", "")
    assert await store.bind_subject("newbie", "https://id.example sub-1") is True
    assert await store.bind_subject("newbie", "https://id.example sub-1") is True
    assert await store.bind_subject("newbie", "https://id.example sub-2") is False
    assert await store.bind_subject("other", "https://id.example sub-1") is False


def designteam_plugins(dsn: str) -> list[str]:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT plugin FROM widgets WHERE hub = 'designteam' ORDER BY id")
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def test_populate_resets_and_reloads_the_demo(pg_admin_dsn, canned_services_process):
    """populate.py --reset drops every Hubs table (the list matches the schema) and loads the demo again; the dummy
    widget is on the Design Team's hub only with --developer-widgets."""
    from hubs.db.populate import HUBS_TABLES, main
    from tests.conftest import drop_database, fresh_database

    dsn = fresh_database(pg_admin_dsn, "hubs_populate")
    try:
        assert main(["--dsn", dsn]) == 0
        conn = psycopg2.connect(dsn)
        with conn.cursor() as cur:
            cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND NOT"
                        " (tablename = 'messages_default' OR tablename ~ '^messages_p[0-9]{4}_[0-9]{2}$')")
            assert {r[0] for r in cur.fetchall()} == set(HUBS_TABLES)
        conn.close()
        assert main(["--dsn", dsn]) == 0  # idempotent
        assert designteam_plugins(dsn) and "dummy" not in designteam_plugins(dsn)
        assert main(["--dsn", dsn, "--reset", "--developer-widgets"]) == 0
        conn = psycopg2.connect(dsn)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM hubs")
            hubs = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM messages")
            messages = cur.fetchone()[0]
        conn.close()
        assert hubs == 7 and messages > 100
        assert "dummy" in designteam_plugins(dsn)
    finally:
        drop_database(pg_admin_dsn, dsn)


@pytest_twisted.ensureDeferred
async def test_roles_need_a_known_person(store):
    """Giving a role to someone who never logged in is a Conflict on both backends, and writes nothing."""
    from hubs.models import Conflict

    with pytest.raises(Conflict):
        await store.set_role("designteam", "nobody-ever", "subscriber", True)
    assert "nobody-ever" not in {u for _, u, _ in await store.all_roles()}
    assert await store.set_role("designteam", "nobody-ever", "subscriber", False) is False


@pytest_twisted.ensureDeferred
async def test_concurrent_edits_of_one_version_one_wins(store):
    """Two edits sent at once from the same version: one is written, the other is a 409 showing the winner."""
    from hubs.models import Conflict

    _, widgets = await store.load_directory()
    w = widgets[0]
    results = await defer.DeferredList(
        [defer.ensureDeferred(store.update_widget_config(w.idx, {"text": t}, expected_version=w.version))
         for t in ("left", "right")], consumeErrors=True)
    won = [value for ok, value in results if ok]
    lost = [value.value for ok, value in results if not ok]
    assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], Conflict)
    (_, new), = won
    assert lost[0].current == new and new.version == w.version + 1
    assert await store.get_widget(w.idx) == new
    hub, _ = await store.get_hub("ralph")
    results = await defer.DeferredList(
        [defer.ensureDeferred(store.update_hub("ralph", {"summary": s}, expected_version=hub.version))
         for s in ("one", "two")], consumeErrors=True)
    assert sorted(ok for ok, _ in results) == [False, True]
    assert (await store.get_hub("ralph"))[0].version == hub.version + 1


@pytest_twisted.ensureDeferred
async def test_edits_at_any_unknown_version_are_conflicts(store):
    """Versions no row can have (0, negative, beyond SQL's integers) are 409s with the current state, never errors."""
    from hubs.models import Conflict

    _, widgets = await store.load_directory()
    w = widgets[0]
    for version in (0, -1, w.version + 1, 2**31, 2**80, -(2**70)):
        with pytest.raises(Conflict) as info:
            await store.update_widget_config(w.idx, {"text": "never"}, expected_version=version)
        assert info.value.current == w
        with pytest.raises(Conflict):
            await store.update_hub("ralph", {"summary": "never"}, expected_version=version)
    with pytest.raises(NotFound):
        await store.update_widget_config(999, {"text": "x"}, expected_version=1)
    assert await store.get_widget(w.idx) == w and (await store.get_hub("ralph"))[0].summary == "Me"


@pytest_twisted.ensureDeferred
async def test_hub_update_without_fields_only_checks_the_version(store):
    """An empty hub update writes nothing: the hub back twice, or a 409 at a stale version."""
    from hubs.models import Conflict

    hub, _ = await store.get_hub("ralph")
    assert await store.update_hub("ralph", {}, expected_version=hub.version) == (hub, hub)
    with pytest.raises(Conflict):
        await store.update_hub("ralph", {}, expected_version=hub.version + 1)
    with pytest.raises(NotFound):
        await store.update_hub("nope", {})


@pytest_twisted.ensureDeferred
async def test_postgres_edits_are_one_statement(empty_db):
    """A widget or hub edit is one round trip to PostgreSQL (no BEGIN/SELECT/UPDATE/COMMIT transaction)."""
    real = PostgresStore(empty_db, size=2)
    await real.start()
    try:
        await _seed(real)
        _, widgets = await real.load_directory()
        hub, _ = await real.get_hub("ralph")
        calls = []
        for name in ("query", "interaction"):
            method = getattr(real._pool, name)

            def counted(*args, _name=name, _method=method, **kwargs):
                calls.append(_name)
                return _method(*args, **kwargs)

            setattr(real._pool, name, counted)
        await real.update_widget_config(widgets[0].idx, {"text": "one"}, expected_version=widgets[0].version)
        await real.update_hub("ralph", {"summary": "one", "left_width": 5}, expected_version=hub.version)
        assert calls == ["query", "query"]
    finally:
        real.close()


@pytest_twisted.ensureDeferred
async def test_token_use_is_written_at_most_once_a_minute(empty_db):
    """A token's last use is recorded on first use and again once a minute old; requests between write nothing."""
    real = PostgresStore(empty_db, size=2)
    await real.start()
    conn = psycopg2.connect(empty_db)
    conn.autocommit = True

    def last_used():
        with conn.cursor() as cur:
            cur.execute("SELECT last_used_at, xmin::text FROM api_tokens")
            return cur.fetchone()

    try:
        await real.upsert_user("bot", "", "")
        await real.create_api_token(b"t" * 32, "bot", "ci")
        assert last_used()[0] is None
        assert (await real.token_user(b"t" * 32)).username == "bot"
        first = last_used()
        assert first[0] is not None
        for _ in range(3):
            assert (await real.token_user(b"t" * 32)).username == "bot"
        assert last_used() == first  # same row version: nothing was written
        with conn.cursor() as cur:
            cur.execute("UPDATE api_tokens SET last_used_at = now() - interval '2 minutes'")
        await real.token_user(b"t" * 32)
        assert last_used()[0] > first[0]
        assert await real.token_user(b"u" * 32) is None
    finally:
        conn.close()
        real.close()


def test_the_migration_to_months_keeps_every_message_with_its_meaning(pg_admin_dsn, tmp_path):
    """A store of messages across several months, migrated to partitions: every message is there, unchanged."""
    import shutil
    import time

    from hubs.db.migrate import discover, latest_version, migrate
    from tests.conftest import drop_database, fresh_database

    for m in discover():
        if m.version <= 6:
            shutil.copy(m.path, tmp_path)
    dsn = fresh_database(pg_admin_dsn, "hubs_months")
    columns = "id, msg_id, topic, category, ts, usernames, packages, body, summary, link, icon, agent, source"
    try:
        assert migrate(dsn, tmp_path) == [1, 2, 3, 4, 5, 6]
        conn = psycopg2.connect(dsn)
        now = time.time()
        with conn, conn.cursor() as cur:
            for i, ts in enumerate([1000.0, now - 400 * 86400, now - 70 * 86400, now - 40 * 86400, now - 39 * 86400,
                                    now - 3600, now]):
                cur.execute("INSERT INTO messages (msg_id, topic, category, ts, usernames, packages, body, summary,"
                            " link, icon, agent, source) VALUES (%s, 'org.fedoraproject.prod.bodhi.update.comment',"
                            " 'bodhi', to_timestamp(%s), %s, %s, %s, %s, 'https://x', 'i.png', 'ralph', 'amqp')",
                            (f"m{i}", ts, ["ralph", f"u{i}"], [f"pkg{i}"], psycopg2.extras.Json({"i": i, "t": "é\n"}),
                             f"ralph commented on gimp-1.0-{i}.fc43"))
            cur.execute("DELETE FROM messages WHERE msg_id = 'm2'")  # ids with a gap
            cur.execute(f"SELECT {columns} FROM messages ORDER BY id")
            before = cur.fetchall()
        assert migrate(dsn) == list(range(7, latest_version() + 1))  # 8: streams, 9: backfill, 10: hub items, …
        with conn, conn.cursor() as cur:
            cur.execute(f"SELECT {columns} FROM messages ORDER BY id")
            assert cur.fetchall() == before
            cur.execute("SELECT count(DISTINCT tableoid) FROM messages")
            assert cur.fetchone()[0] >= 4  # several months (and the 1970 one in the default partition)
            cur.execute("SELECT id, msg_id FROM message_ids ORDER BY id")
            assert cur.fetchall() == [(r[0], r[1]) for r in before]
            cur.execute("INSERT INTO message_ids (msg_id, ts) VALUES ('new', now()) RETURNING id")
            assert cur.fetchone()[0] == before[-1][0] + 1  # new ids follow the old ones
        conn.close()
    finally:
        drop_database(pg_admin_dsn, dsn)


@pytest_twisted.ensureDeferred
async def test_every_month_has_statistics_of_its_substrings_before_and_after_migration_11(pg_admin_dsn, tmp_path):
    """Migration 0011 on a store with months of messages: every month (made before it or after) has extended
    statistics on the substring index's expression, filled in, and substrings are found as before."""
    import shutil
    import time

    from hubs.db.ingest import ingest
    from hubs.db.migrate import discover, latest_version, migrate
    from hubs.models import StoredMessage
    from hubs.search.query import parse_query
    from tests.conftest import drop_database, fresh_database

    for m in discover():
        if m.version <= 10:
            shutil.copy(m.path, tmp_path)
    dsn = fresh_database(pg_admin_dsn, "hubs_names")
    now = time.time()
    texts = [("ralph's gimp-1.0-1.fc43 completed", ("gimp",)), ("python-pymemcache-8.11_2 ~ rpms/x:y@z#1", ()),
             ("plain words", ("python-foo",))]
    try:
        migrate(dsn, tmp_path)
        conn = psycopg2.connect(dsn)
        ingest(conn, [StoredMessage(msg_id=f"m{i}", topic="org.fedoraproject.prod.buildsys.x", category="buildsys",
                                    ts=now - i * 40 * 86400, usernames=("ralph",), packages=packages, body={"i": i},
                                    summary=summary) for i, (summary, packages) in enumerate(texts)])
        assert migrate(dsn) == list(range(11, latest_version() + 1))
        with conn, conn.cursor() as cur:
            cur.execute("SELECT hubs_message_partition(%s::date)", ("2031-05-01",))
            cur.execute("SELECT count(*), count(s.stxname) FROM pg_inherits i"
                        " LEFT JOIN pg_statistic_ext s ON s.stxrelid = i.inhrelid"
                        " WHERE i.inhparent = 'messages'::regclass")
            partitions, with_statistics = cur.fetchone()
            assert partitions >= 4 and with_statistics == partitions
            cur.execute("SELECT count(*) FROM pg_stats_ext_exprs WHERE statistics_name LIKE 'messages_p%%'"
                        " AND n_distinct IS NOT NULL")
            assert cur.fetchone()[0] >= 3  # the months holding messages were analysed
        conn.close()
        store = PostgresStore(dsn, size=1)
        await store.start()
        try:
            for q, found in (("gimp-1.0", ["m0"]), ("pymemcache-8.11_2", ["m1"]), ("rpms/x:y@z#1", ["m1"]),
                             ("python-foo", ["m2"])):
                assert [m.msg_id for m, _ in await store.search_messages(parse_query({"q": q}))] == found, q
        finally:
            store.close()
    finally:
        drop_database(pg_admin_dsn, dsn)


@pytest_twisted.ensureDeferred
async def test_bulk_ingest_and_the_live_path_at_once_store_each_message_once(empty_db):
    """A backfill's bulk ingest and the bus writing the same messages at the same time: each stored once."""
    from twisted.internet import threads

    from hubs.db.ingest import ingest

    batch = [_msg(i, 1_700_000_000 + i, ["ralph"], packages=['py"mem\\cache\t']) for i in range(2000)]
    live = PostgresStore(empty_db, size=2)
    await live.start()

    def bulk():
        conn = psycopg2.connect(empty_db)
        try:
            first = ingest(conn, batch[:1200])
            return first, ingest(conn, batch[:1200])  # a resumed run writes its last window again: nothing new
        finally:
            conn.close()

    try:
        bulk_done = threads.deferToThread(bulk)
        live_added = 0
        for i in range(800, 2000, 100):
            live_added += await live.add_messages(batch[i:i + 100])
        first, again = await bulk_done
        assert again == 0 and first + live_added == 2000
        conn = psycopg2.connect(empty_db)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*), count(DISTINCT msg_id) FROM messages")
            assert cur.fetchone() == (2000, 2000)
            cur.execute("SELECT packages FROM messages WHERE msg_id = 'm5'")
            assert cur.fetchone()[0] == ['py"mem\\cache\t']
        conn.close()
    finally:
        live.close()


# ---------------------------------------------------------------- search


async def _searchable(store):
    from hubs.models import StoredMessage

    def m(n, ts, summary, users, packages, category="bodhi"):
        return StoredMessage(msg_id=f"s{n}", topic=f"org.fedoraproject.prod.{category}.update.comment",
                             category=category, ts=float(ts), usernames=tuple(users), packages=tuple(packages),
                             body={"n": n}, summary=summary, agent=users[0] if users else "")

    await store.add_messages([
        m(1, 1000, "ralph commented on gimp-1.0-1.fc43", ["ralph"], ["gimp"]),
        m(2, 2000, "python-pymemcache-8.11-1.fc43 was built", ["mizmo"], ["python-pymemcache"], "buildsys"),
        m(3, 3000, "the update was pushed to stable", ["ralph"], ["kernel"]),
        m(4, 4000, "a stable update for the docs", ["duffy"], ["docs"]),
    ])


async def _found(store, **args):
    from hubs.search.query import parse_query

    return [m.msg_id for m, _ in await store.search_messages(parse_query(args))]


@pytest.mark.parametrize("q, expected", [
    ("stable", ["s4", "s3"]),
    ('"pushed to stable"', ["s3"]),
    ('"stable pushed"', []),
    ("stable -docs", ["s3"]),
    ("gimp or kernel", ["s3", "s1"]),
    ("GIMP", ["s1"]),
    ("gimp-1.0-1.fc43", ["s1"]),
    ("pymemcache-8.11", ["s2"]),
    ("pymemcache", ["s2"]),
    ("fc43", ["s2", "s1"]),
    ("-stable", []),
    ("mizmo", ["s2"]),
    ("buildsys", ["s2"]),
    ("nothing-like-this", []),
])
@pytest_twisted.ensureDeferred
async def test_search_finds_messages_by_word_phrase_exclusion_or_and_substring(store, q, expected):
    """Words, "phrases", -word, or, package names and NVR substrings find the messages they name, newest first."""
    await _searchable(store)
    assert await _found(store, q=q) == expected


@pytest_twisted.ensureDeferred
async def test_search_filters_narrow_the_messages(store):
    """Service, person, package, time range, a hub's people and a cursor narrow a search; filters alone list."""
    from dataclasses import replace

    from hubs.search.query import parse_query

    await _searchable(store)
    assert await _found(store, q="stable", person="ralph") == ["s3"]
    assert await _found(store, q="fc43", service="buildsys") == ["s2"]
    assert await _found(store, q="update", package="docs") == ["s4"]
    assert await _found(store, person="ralph") == ["s3", "s1"]
    assert await _found(store, q="stable", since="1970-01-01T00:55:00Z") == ["s4"]
    assert await _found(store, q="stable", until="1970-01-01T00:55:00Z") == ["s3"]
    assert await _found(store, q="stable", before="4000:0") == ["s3"]
    assert await _found(store, q="stable", limit="1") == ["s4"]
    hub = replace(parse_query({"q": "stable"}), people=("duffy", "mizmo"))
    assert [m.msg_id for m, _ in await store.search_messages(hub)] == ["s4"]
    assert await store.search_messages(replace(hub, people=())) == []


@pytest_twisted.ensureDeferred
async def test_search_marks_the_matching_words(store):
    """Each found message comes with its summary, the words it was found by between highlight marks."""
    from hubs.search.query import highlight_html, parse_query

    await _searchable(store)
    query = parse_query({"q": '"pushed to stable"'})
    ((_, marked),) = await store.search_messages(query)
    assert highlight_html(marked, query).count("<mark>") >= 2
    query = parse_query({"q": "pymemcache-8.11"})
    ((_, marked),) = await store.search_messages(query)
    assert "<mark>" in highlight_html(marked, query)


@pytest.mark.parametrize("q, expected", [
    ("gimp-1.0", ["n1"]),
    ("GIMP-1.0-1", ["n1"]),
    ("o_bar-2", ["n2"]),
    ("100%_d", ["n3"]),
    ("rpms/gimp", ["n4"]),
    ("gimp-1.", ["n1"]),
    ("1.0-1", ["n1"]),
])
@pytest_twisted.ensureDeferred
async def test_a_substring_matches_its_signs_literally_in_any_case(store, q, expected):
    """A substring with - . _ % / is found where those very signs are (LIKE's _ and % are no wildcards there),
    whatever the case of the text."""
    from hubs.models import StoredMessage

    def m(n, summary, packages=()):
        return StoredMessage(msg_id=f"n{n}", topic="org.fedoraproject.prod.buildsys.build.state.change",
                             category="buildsys", ts=float(1000 + n), usernames=("ralph",), packages=packages,
                             body={"n": n}, summary=summary, agent="ralph")

    await store.add_messages([
        m(1, "ralph's GIMP-1.0-1.fc43 completed", ("gimp",)),
        m(2, "foo_bar-2 and foo_bar-3", ("foo_bar",)),
        m(3, "100%_done 100ud gimpx1y0x1 fooubar-2"),
        m(4, "pushed to rpms/gimp"),
    ])
    assert await _found(store, q=q) == expected


@pytest.mark.parametrize("q", ["(((&|!", "'", ":*", "\\", "a & b | !c", "\"", "- -", "or", "or or -", "%_%",
                               "'; DROP TABLE messages; --", "ä" * 200, "<script>", "a:* | b <-> c"])
@pytest_twisted.ensureDeferred
async def test_odd_queries_are_never_errors(store, q):
    """Any text is a query: PostgreSQL's syntax characters, quotes and SQL are looked for, never an error."""
    from hubs.search.query import SearchError

    await _searchable(store)
    try:
        assert isinstance(await _found(store, q=q), list)
    except SearchError as e:  # nothing to look for in it: a 400 that says so
        assert "say what to look for" in str(e) or "nothing to look for" in str(e)


@pytest_twisted.ensureDeferred
async def test_a_page_spans_recent_and_old_months_in_order(store):
    """Pages of activity and of search results run newest first across this month and older ones alike."""
    import time

    from hubs.search.query import parse_query

    now = time.time()
    await store.add_messages([_msg(i, now - i * 10 * 86400, ["ralph"]) for i in range(8)])  # now … 70 days ago
    page = await store.recent_messages(usernames=["ralph"], limit=5)
    assert [m.msg_id for m in page] == ["m0", "m1", "m2", "m3", "m4"]
    rest = await store.recent_messages(usernames=["ralph"], limit=5, before=(page[-1].ts, page[-1].id))
    assert [m.msg_id for m in rest] == ["m5", "m6", "m7"]
    found = await store.search_messages(parse_query({"person": "ralph", "limit": "6"}))
    assert [m.msg_id for m, _ in found] == [f"m{i}" for i in range(6)]
