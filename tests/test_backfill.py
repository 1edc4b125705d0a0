"""The backfill engine: walks windows oldest first, stores each message once, backs off, resumes after a kill,
and runs each target on one process of a fleet at a time — on fakes, and on real PostgreSQL."""

import fedmsg.config
import psycopg2
import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.internet.task import Clock

from hubs.bus.meta import MessageMeta
from hubs.db.recorder import stored_message
from hubs.db.store import PostgresStore
from hubs.demo.history import DAY, records_between
from hubs.history.backfill import Backfiller, BackfillSettings
from hubs.history.jobs import PostgresJobs
from hubs.history.plan import plan_windows
from hubs.services.datagrepper import read_raw
from hubs.services.http import ServiceError
from hubs.stream.model import Reason, StreamQuery
from hubs.testing.history import FakeHistory, FakeJobs
from hubs.testing.store import FakeStore

META = MessageMeta(fedmsg.config.load_config([], None))
NOW = 1_796_000_000.0
RECORDS = records_between(NOW - 3 * DAY, NOW, NOW)
TEAM = ["mizmo", "duffy", "ryanlerch"]


def settings(**kw):
    return BackfillSettings(**{"days": 3, "window": DAY / 4, "rows_per_page": 100, "max_pages": 3,
                               "backoff_base": 30, "backoff_cap": 300, "max_failures": 4, "lease": 60, "batch_rows": 1,
                               **kw})


def people(kind, name):
    return {("person", "mizmo"): ["mizmo"], ("hub", "designteam"): TEAM, ("hub", "empty"): []}.get((kind, name))


def expected_ids(users):
    return sorted(r.item["id"] for r in RECORDS if r.usernames & set(users))


def make_clock():
    clock = Clock()
    clock.advance(NOW)
    return clock


def engine(jobs, clock, owner="a", history=None, **kw):
    settings_kw = {k: kw.pop(k) for k in list(kw) if k in BackfillSettings.__dataclass_fields__}
    return Backfiller(jobs, history or FakeHistory(RECORDS, NOW, META), clock, settings(**settings_kw), owner,
                      people, **kw)


async def pump(clock, d, step=1.0, limit=12_000):
    """Advance the test's clock until ``d`` fires (back-off waits, the turn between pages), letting the reactor
    run a little in between (PostgreSQL's answers come through it): at most about a minute."""
    for _ in range(limit):
        if d.called:
            break
        clock.advance(step)
        await task.deferLater(reactor, 0.005, lambda: None)
    assert d.called, "the backfill never finished"
    return await d


# ---------------------------------------------------------------- on fakes


@pytest_twisted.ensureDeferred
async def test_a_backfill_stores_a_persons_past_once_walking_windows_in_order():
    """Every message about the person in the last N days is stored once; windows are asked oldest first."""
    clock, store = make_clock(), FakeStore()
    jobs, history = FakeJobs(store), FakeHistory(RECORDS, NOW, META)
    backfill = engine(jobs, clock, history=history)
    progress = []
    backfill.on_progress = progress.append
    await backfill.request("person", "mizmo")
    job = await backfill.run("person", "mizmo")
    assert (job.status, job.percent, job.owner) == ("done", 100, None)
    assert sorted(m.msg_id for m in store.messages) == expected_ids(["mizmo"]) and job.stored == len(store.messages)
    starts = [q.start for q in history.calls if q.page == 1]
    assert starts == sorted(starts) and all(q.users == ("mizmo",) and q.order == "asc" for q in history.calls)
    assert history.calls[0].start == NOW - 3 * DAY and history.calls[-1].end == NOW
    assert [p.reached for p in progress] == sorted(p.reached for p in progress) and progress[-1].status == "done"
    assert backfill.progress("mizmo") is None  # finished: the widget says nothing more


@pytest_twisted.ensureDeferred
async def test_the_history_reaches_the_streams_of_the_people_it_concerns_read():
    """With the stream's index, each stored message's entries are written with it, read (history, not news)."""
    clock, store = make_clock(), FakeStore()
    asked = []

    def concerns(message):
        asked.append(message.id)
        return {"ralph": (Reason("follow-person", "mizmo"),)} if "mizmo" in message.usernames else {}

    backfill = engine(FakeJobs(store), clock, concerns=concerns)
    await backfill.request("person", "mizmo")
    await backfill.run("person", "mizmo")
    items = await store.stream_after("ralph", 0, 10_000)
    assert sorted(asked) == expected_ids(["mizmo"]) and len(items) == len(store.messages) > 0
    assert not any(i.unread for i in items) and (await store.stream_counts("ralph")).unread == 0


@pytest_twisted.ensureDeferred
async def test_the_history_reaches_the_hubs_whose_feeds_show_it_read():
    """The hubs' entries of the history are written once per hub, read: a member finds them, none unread."""
    clock, store = make_clock(), FakeStore()
    backfill = engine(FakeJobs(store), clock, concerns=lambda message: {},
                      feed_hubs=lambda message: ("designteam",) if "mizmo" in message.usernames else ())
    await backfill.request("person", "mizmo")
    await backfill.run("person", "mizmo")
    member = {"designteam": (Reason("hub", "designteam"),)}
    items = await store.stream_page("duffy", StreamQuery(limit=100), member)
    assert len(items) == len(store.messages) > 0 and not store._stream_state()["items"]
    assert not any(i.unread for i in items) and (await store.stream_counts("duffy", member)).unread == 0


@pytest_twisted.ensureDeferred
async def test_a_full_window_is_split_and_never_paged_deep():
    """A window with more pages than allowed is split into smaller windows; no page past max_pages is asked."""
    clock, store = make_clock(), FakeStore()
    history = FakeHistory(RECORDS, NOW, META)
    backfill = engine(FakeJobs(store), clock, history=history, rows_per_page=2, max_pages=2, window=DAY)
    await backfill.request("hub", "designteam")
    job = await pump(clock, defer.ensureDeferred(backfill.run("hub", "designteam")))
    assert job.status == "done" and sorted(m.msg_id for m in store.messages) == expected_ids(TEAM)
    assert max(q.page for q in history.calls) <= 2
    assert len({(q.start, q.end) for q in history.calls}) > 3  # split below a day


@pytest_twisted.ensureDeferred
async def test_failures_back_off_then_the_same_window_is_fetched_again():
    """datagrepper failing: the job waits 30 s, 60 s… (its lease stretched over the wait), then goes on where
    it was; nothing is lost or stored twice."""
    clock, store = make_clock(), FakeStore()
    jobs, history = FakeJobs(store), FakeHistory(RECORDS, NOW, META)
    backfill = engine(jobs, clock, history=history)
    await backfill.request("person", "mizmo")
    history.fail_next(2, ServiceError("apps.fedoraproject.org did not answer within 10 s."))
    d = defer.ensureDeferred(backfill.run("person", "mizmo"))
    job = jobs.jobs[("person", "mizmo")]
    assert (job.failures, job.error) == (1, "apps.fedoraproject.org did not answer within 10 s.")
    assert job.lease_until == NOW + 60 + 30 and len(history.calls) == 1
    clock.advance(29)
    assert len(history.calls) == 1  # still waiting
    clock.advance(1)
    assert len(history.calls) == 2 and jobs.jobs[("person", "mizmo")].failures == 2  # then 60 s
    job = await pump(clock, d)
    assert job.status == "done" and sorted(m.msg_id for m in store.messages) == expected_ids(["mizmo"])
    assert history.calls[0] == history.calls[1] == history.calls[2]


@pytest_twisted.ensureDeferred
async def test_a_job_gives_up_after_failing_too_often_and_resumes_when_asked_again():
    """After max_failures in a row the job is failed (saying why); asking again resumes from where it got."""
    clock, store = make_clock(), FakeStore()
    jobs, history = FakeJobs(store), FakeHistory(RECORDS, NOW, META)
    backfill = engine(jobs, clock, history=history, stop_after=3)
    await backfill.request("person", "mizmo")
    await backfill.run("person", "mizmo")  # three windows, then "killed"
    reached = jobs.jobs[("person", "mizmo")].reached
    backfill.stop_after = None
    history.fail_next(10, ServiceError("datagrepper answered HTTP 502."))
    job = await pump(clock, defer.ensureDeferred(backfill.run("person", "mizmo")))
    assert (job.status, job.error, job.reached) == ("failed", "datagrepper answered HTTP 502.", reached)
    history._failures.clear()
    again = await backfill.request("person", "mizmo")
    assert (again.status, again.reached) == ("queued", reached)
    job = await pump(clock, defer.ensureDeferred(backfill.run("person", "mizmo")))
    assert job.status == "done" and sorted(m.msg_id for m in store.messages) == expected_ids(["mizmo"])


@pytest_twisted.ensureDeferred
async def test_a_store_failure_backs_off_too():
    """PostgreSQL failing to save a window is a failure like datagrepper's: back off, then the same window."""
    clock, store = make_clock(), FakeStore()
    jobs = FakeJobs(store)
    jobs.fail_saves = 1
    backfill = engine(jobs, clock)
    await backfill.request("person", "mizmo")
    job = await pump(clock, defer.ensureDeferred(backfill.run("person", "mizmo")))
    assert job.status == "done" and sorted(m.msg_id for m in store.messages) == expected_ids(["mizmo"])


@pytest_twisted.ensureDeferred
async def test_polling_claims_jobs_and_stopping_puts_them_back():
    """Started, a process picks up queued jobs (up to its concurrency) and shows their progress; stopped, its
    jobs go back to the queue at once for another process."""
    clock, store = make_clock(), FakeStore()
    jobs, history = FakeJobs(store), FakeHistory(RECORDS, NOW, META)
    backfill = engine(jobs, clock, history=history, concurrency=1)
    history.fail_next(1)  # the first window waits in a back-off: the job stays running
    await backfill.request("hub", "designteam")
    await backfill.request("person", "mizmo")
    backfill.start()
    assert list(backfill.running) == [("hub", "designteam")] and backfill.progress("designteam") == 0
    assert backfill.health()["open"] == 2 and backfill.health()["running"][0]["owner"] == "a"
    await backfill.stop()
    assert {j.key: (j.status, j.owner) for j in await jobs.open_jobs()} == {
        ("hub", "designteam"): ("queued", None), ("person", "mizmo"): ("queued", None)}


@pytest_twisted.ensureDeferred
async def test_unknown_targets_are_refused_and_empty_hubs_finish_at_once():
    """A target that does not exist is refused when asked; a hub with nobody to follow has nothing to fetch."""
    from hubs.history.backfill import UnknownTarget

    clock = make_clock()
    backfill = engine(FakeJobs(FakeStore()), clock)
    for kind, name in (("hub", "nothing"), ("team", "designteam")):
        with pytest.raises(UnknownTarget):
            await backfill.request(kind, name)
    await backfill.request("hub", "empty")
    assert (await backfill.run("hub", "empty")).status == "done"


# ---------------------------------------------------------------- on PostgreSQL


@pytest.fixture
def pg(empty_db):
    """PostgresJobs and PostgresStore on the test database, and a count of stored messages that fails if any id
    is stored twice."""
    jobs = PostgresJobs(empty_db, reactor)
    jobs.start()
    store = PostgresStore(empty_db, size=1)
    pytest_twisted.blockon(defer.ensureDeferred(store.start()))

    def stored_ids():
        conn = psycopg2.connect(empty_db)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT m.msg_id FROM messages m JOIN message_ids i USING (id, msg_id) ORDER BY 1")
                ids = [r[0] for r in cur.fetchall()]
                cur.execute("SELECT count(*) FROM message_ids")
                assert cur.fetchone()[0] == len(ids)
        finally:
            conn.close()
        assert len(ids) == len(set(ids)), "a message stored twice"
        return ids

    yield jobs, store, stored_ids
    store.close()
    jobs.close()


@pytest_twisted.ensureDeferred
async def test_a_backfill_killed_midway_resumes_on_another_process_storing_nothing_twice(pg):
    """Process a stops after k windows (as if killed, its lease left); once the lease expires, process b claims
    the job, resumes from the last window stored, and every message ends up stored exactly once."""
    jobs, _store, stored_ids = pg
    clock = make_clock()
    first = engine(jobs, clock, owner="a", stop_after=4)
    await first.request("hub", "designteam")
    await first.run("hub", "designteam")
    halfway = await jobs.get("hub", "designteam")
    assert (halfway.status, halfway.owner, halfway.windows) == ("running", "a", 4)
    assert 0 < len(stored_ids()) < len(expected_ids(TEAM))
    history = FakeHistory(RECORDS, NOW, META)
    second = engine(jobs, clock, owner="b", history=history)
    await second.poll()
    assert second.running == {}  # a's lease still holds
    clock.advance(61)
    await second.poll()
    await defer.DeferredList(list(second.walks.values()))
    job = await jobs.get("hub", "designteam")
    assert (job.status, job.owner, job.windows) == ("done", None, len(plan_windows(NOW - 3 * DAY, NOW, DAY / 4)))
    assert history.calls[0].start == halfway.reached  # nothing fetched again
    assert stored_ids() == expected_ids(TEAM)


@pytest_twisted.ensureDeferred
async def test_a_message_heard_on_the_bus_during_a_backfill_is_stored_once(pg):
    """The bus stores a message the backfill has yet to reach (and one it stored already): each is kept once."""
    jobs, store, stored_ids = pg
    clock = make_clock()
    backfill = engine(jobs, clock, stop_after=2)
    await backfill.request("person", "mizmo")
    await backfill.run("person", "mizmo")
    mine = [r for r in RECORDS if "mizmo" in r.usernames]
    already, later = stored_ids()[0], mine[-1]
    bus = [stored_message(read_raw(r.item, META), now=NOW) for r in mine if r.item["id"] == already]
    bus.append(stored_message(read_raw(later.item, META), now=NOW))
    assert await store.add_messages(bus) == 1  # the one the backfill stored already is skipped
    backfill.stop_after = None
    job = await backfill.run("person", "mizmo")
    assert job.status == "done" and stored_ids() == expected_ids(["mizmo"])
    assert job.stored == len(expected_ids(["mizmo"])) - 1  # the bus stored that one


@pytest_twisted.ensureDeferred
async def test_two_processes_never_walk_the_same_target_at_once(pg):
    """Two processes polling at the same moment: one claims the job and walks it, the other asks datagrepper
    nothing; a process asked to run a target another holds leaves it alone."""
    jobs, _store, stored_ids = pg
    clock = make_clock()
    histories = [FakeHistory(RECORDS, NOW, META) for _ in range(2)]
    a, b = (engine(jobs, clock, owner=o, history=h) for o, h in zip("ab", histories, strict=True))
    await a.request("hub", "designteam")
    await defer.DeferredList([defer.ensureDeferred(a.poll()), defer.ensureDeferred(b.poll())])
    await defer.DeferredList(list(a.walks.values()) + list(b.walks.values()))
    assert sorted(bool(h.calls) for h in histories) == [False, True]
    assert (await jobs.get("hub", "designteam")).status == "done" and stored_ids() == expected_ids(TEAM)
    # While a holds it (waiting out a back-off), b's run and poll leave it alone.
    await a.request("person", "mizmo")
    histories[0].fail_next(1)
    walking = defer.ensureDeferred(a.run("person", "mizmo"))
    assert await b.run("person", "mizmo") is None
    await b.poll()
    assert b.running == {} and not histories[1].calls
    await pump(clock, walking)
    assert (await jobs.get("person", "mizmo")).status == "done"
