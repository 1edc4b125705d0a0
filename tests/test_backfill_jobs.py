"""One suite for the backfill jobs: the fake and PostgreSQL (requests, leases, saving a window, resuming)."""

import psycopg2
import pytest
import pytest_twisted
from twisted.internet import defer, reactor

from hubs.db.store import PostgresStore
from hubs.history.jobs import LeaseLost, PostgresJobs
from hubs.models import StoredMessage
from hubs.stream.model import HubEntry, NewItem, Reason
from hubs.testing.history import FakeJobs
from hubs.testing.store import FakeStore

NOW = 1_796_000_000.0
LEASE = 60.0


def message(n: int, ts: float = NOW - 3600) -> StoredMessage:
    return StoredMessage(msg_id=f"m-{n}", topic="org.fedoraproject.prod.git.receive", category="git", ts=ts + n,
                         usernames=("mizmo",), packages=("gimp",), body={"n": n}, summary=f"push {n}")


class Both:
    """The jobs and a way to count what the message store holds, for either backend."""

    def __init__(self, jobs, store, count):
        self.jobs, self.store, self.count = jobs, store, count


@pytest.fixture(params=["fake", pytest.param("postgres", marks=pytest.mark.integration)])
def both(request):
    if request.param == "fake":
        store = FakeStore()
        yield Both(FakeJobs(store), store, lambda: len(store.messages))
        return
    dsn = request.getfixturevalue("empty_db")
    jobs = PostgresJobs(dsn, reactor)
    jobs.start()
    store = PostgresStore(dsn, size=1)
    pytest_twisted.blockon(defer.ensureDeferred(store.start()))

    def count():
        c = psycopg2.connect(dsn)
        try:
            with c, c.cursor() as cur:
                cur.execute("SELECT count(*), count(DISTINCT msg_id) FROM messages")
                total, distinct = cur.fetchone()
                assert total == distinct
                return total
        finally:
            c.close()

    yield Both(jobs, store, count)
    store.close()
    jobs.close()


@pytest_twisted.ensureDeferred
async def test_a_request_opens_one_job_per_target(both):
    """Asking twice while a job is open keeps the first; another target has its own."""
    first = await both.jobs.request("person", "mizmo", NOW - 7200, NOW, NOW)
    assert (first.status, first.reached, first.owner) == ("queued", NOW - 7200, None)
    again = await both.jobs.request("person", "mizmo", NOW - 9999, NOW + 5, NOW + 5)
    assert again == first
    other = await both.jobs.request("hub", "mizmo", NOW - 7200, NOW, NOW)
    assert other.key == ("hub", "mizmo") and [j.key for j in await both.jobs.open_jobs()] == [
        ("person", "mizmo"), ("hub", "mizmo")]


@pytest_twisted.ensureDeferred
async def test_one_process_at_a_time_holds_a_job(both):
    """A claimed job is nobody else's until its lease expires; then another process may take it over."""
    await both.jobs.request("hub", "designteam", NOW - 7200, NOW, NOW)
    held = await both.jobs.claim("hub", "designteam", "a", NOW, LEASE)
    assert (held.owner, held.status, held.lease_until) == ("a", "running", NOW + LEASE)
    assert await both.jobs.claim("hub", "designteam", "b", NOW + 1, LEASE) is None
    assert await both.jobs.claim_next("b", NOW + 1, LEASE) is None
    assert (await both.jobs.claim("hub", "designteam", "a", NOW + 2, LEASE)).owner == "a"  # its own again
    taken = await both.jobs.claim_next("b", NOW + 2 + LEASE, LEASE)
    assert taken.owner == "b"
    with pytest.raises(LeaseLost):
        await both.jobs.save(held, "a", [message(1)], NOW - 3600, 1, NOW + 70, LEASE)
    with pytest.raises(LeaseLost):
        await both.jobs.renew(held, "a", NOW + 70, LEASE)
    assert both.count() == 0


@pytest_twisted.ensureDeferred
async def test_saving_a_window_stores_its_messages_and_the_position_together(both):
    """A window's messages and how far the walk got are written together; a message stored already is skipped."""
    await both.jobs.request("person", "mizmo", NOW - 7200, NOW, NOW)
    job = await both.jobs.claim("person", "mizmo", "a", NOW, LEASE)
    await both.store.add_messages([message(2)])  # the bus brought it meanwhile
    job = await both.jobs.save(job, "a", [message(1), message(2), message(3)], NOW - 3600, 3, NOW + 5, LEASE)
    assert (job.reached, job.fetched, job.stored, job.windows, job.lease_until) == (
        NOW - 3600, 3, 2, 1, NOW + 5 + LEASE)
    job = await both.jobs.save(job, "a", [message(3), message(4)], NOW, 2, NOW + 6, LEASE)
    assert (job.reached, job.fetched, job.stored, job.windows) == (NOW, 5, 3, 2)
    assert both.count() == 4


@pytest_twisted.ensureDeferred
async def test_saving_a_window_writes_its_stream_entries_read(both):
    """History filled in lands in the streams of the people it concerns as read (there to be found, not news to
    be done); an entry the bus wrote meanwhile keeps its state."""
    await both.jobs.request("person", "mizmo", NOW - 7200, NOW, NOW)
    job = await both.jobs.claim("person", "mizmo", "a", NOW, LEASE)
    await both.store.add_messages_with_items([message(2)], [NewItem("m-2", "ralph", (Reason("mentioned"),))])
    followed = (Reason("follow-person", "mizmo"),)
    items = [NewItem(f"m-{n}", "ralph", followed, unread=False) for n in (1, 2, 3)]
    items.append(NewItem("m-3", "decause", (Reason("package", "gimp"),), unread=False))
    await both.jobs.save(job, "a", [message(1), message(2), message(3)], NOW - 3600, 3, NOW + 5, LEASE, 1, items)
    ralph = await both.store.stream_after("ralph", 0, 10)
    # Oldest key first: the bus stored m-2 before the window came.
    assert [(i.unread, i.reasons) for i in ralph] == [(True, (Reason("mentioned"),)), (False, followed),
                                                      (False, followed)]
    assert (await both.store.stream_counts("ralph")).unread == 1
    assert [i.unread for i in await both.store.stream_after("decause", 0, 10)] == [False]
    assert (await both.store.stream_counts("decause")).unread == 0


@pytest_twisted.ensureDeferred
async def test_saving_a_window_writes_its_hub_entries_read(both):
    """A window's hub entries go in the same transaction, once per hub, read (``fresh`` false)."""
    await both.jobs.request("hub", "infra", NOW - 7200, NOW, NOW)
    job = await both.jobs.claim("hub", "infra", "a", NOW, LEASE)
    items = [HubEntry(f"m-{n}", "infra", fresh=False) for n in (1, 2)]
    await both.jobs.save(job, "a", [message(1), message(2)], NOW - 3600, 2, NOW + 5, LEASE, 1, items)
    member = {"infra": (Reason("hub", "infra"),)}
    found = await both.store.stream_after("nirik", 0, 10, member)
    assert [(i.unread, i.reasons) for i in found] == [(False, (Reason("hub", "infra"),))] * 2
    assert (await both.store.stream_counts("nirik", member)).unread == 0


@pytest_twisted.ensureDeferred
async def test_renewing_records_failures_and_finishing_releases(both):
    """Backing off stretches the lease and says why; a finished job has no owner; a new request resumes a failed
    one from where it got."""
    await both.jobs.request("person", "mizmo", NOW - 7200, NOW, NOW)
    job = await both.jobs.claim("person", "mizmo", "a", NOW, LEASE)
    job = await both.jobs.save(job, "a", [message(1)], NOW - 3600, 1, NOW, LEASE)
    job = await both.jobs.renew(job, "a", NOW + 1, LEASE + 30, 1, "datagrepper answered HTTP 500.")
    assert (job.failures, job.error, job.lease_until) == (1, "datagrepper answered HTTP 500.", NOW + 91 + LEASE - 60)
    failed = await both.jobs.finish(job, "a", "failed", NOW + 2, "gave up")
    assert (failed.status, failed.owner, failed.error) == ("failed", None, "gave up")
    assert await both.jobs.open_jobs() == []
    resumed = await both.jobs.request("person", "mizmo", NOW - 7200, NOW + 10, NOW + 10)
    assert (resumed.status, resumed.reached, resumed.until) == ("queued", NOW - 3600, NOW + 10)


@pytest_twisted.ensureDeferred
async def test_a_released_job_is_claimed_at_once(both):
    """A process stopping cleanly puts its job back in the queue: another takes it without waiting out the lease."""
    await both.jobs.request("hub", "designteam", NOW - 7200, NOW, NOW)
    job = await both.jobs.claim("hub", "designteam", "a", NOW, LEASE)
    await both.jobs.release(job, "a", NOW + 1)
    assert (await both.jobs.get("hub", "designteam")).status == "queued"
    assert (await both.jobs.claim_next("b", NOW + 2, LEASE)).owner == "b"
    await both.jobs.release(job, "a", NOW + 3)  # not a's any more: nothing happens
    assert (await both.jobs.get("hub", "designteam")).owner == "b"
    assert await both.jobs.get("hub", "nothing") is None


@pytest.mark.integration
def test_closing_twice_is_closing_once(empty_db):
    """A process told twice to stop (two SIGTERMs in a row, as `make run` under `timeout` gets) closes the jobs'
    connection once: the second close raised AlreadyQuit in a thread of its own (a traceback at every stop)."""
    import threading
    import time

    errors = []
    hook, threading.excepthook = threading.excepthook, errors.append
    try:
        jobs = PostgresJobs(empty_db, reactor)
        jobs.start()
        jobs.close()
        jobs.close()
        time.sleep(0.3)
    finally:
        threading.excepthook = hook
    assert errors == []
