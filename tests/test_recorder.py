"""The message recorder: batches, flush-before-rebuild, retries, limits; the pruner."""

import pytest_twisted
from twisted.internet import defer
from twisted.internet.task import Clock

from hubs.db.recorder import MessageRecorder, Pruner, stored_message
from hubs.db.store import StoreUnavailable
from hubs.testing.store import FakeStore


def env(n, **extra):
    return {"topic": "org.fedoraproject.prod.bodhi.update.comment", "msg": {"n": n}, "msg_id": f"id{n}",
            "timestamp": 1000.0 + n, **extra}


def test_stored_message_fields():
    """Category from the topic; bad timestamps and msg_ids are replaced."""
    m = stored_message(env(1), {"b", "a"}, {"kernel"}, now=5000.0)
    assert (m.category, m.ts, m.msg_id, m.usernames, m.packages) == ("bodhi", 1001.0, "id1", ("a", "b"), ("kernel",))
    bad = stored_message(env(2, timestamp="yesterday", msg_id=None), (), (), now=5000.0)
    assert bad.ts == 5000.0 and bad.msg_id.startswith("hubs-")
    future = stored_message(env(3, timestamp=10**12), (), (), now=5000.0)
    assert future.ts == 5000.0


def test_messages_are_written_in_batches():
    """Messages wait for the delay, then go in one insert; a full batch goes at once."""
    store, clock = FakeStore(), Clock()
    calls = []
    real = store.add_messages

    async def counting(batch):
        calls.append(len(batch))
        return await real(batch)

    store.add_messages = counting
    rec = MessageRecorder(store, clock, batch_size=3, delay=0.2)
    rec.record(env(1), (), ())
    rec.record(env(2), (), ())
    assert calls == []
    clock.advance(0.2)
    assert calls == [2]
    for n in range(3, 6):
        rec.record(env(n), (), ())
    clock.advance(0)
    assert calls == [2, 3] and rec.stored == 5 and len(store.messages) == 5


@pytest_twisted.ensureDeferred
async def test_flush_waits_for_everything_recorded():
    """flush() fires only after the messages recorded before it are stored."""
    store, clock = FakeStore(), Clock()
    gate = defer.Deferred()
    real = store.add_messages

    async def slow(batch):
        await gate
        return await real(batch)

    store.add_messages = slow
    rec = MessageRecorder(store, clock, batch_size=100, delay=0.2)
    rec.record(env(1), ["ralph"], ())
    flushed = rec.flush()
    clock.advance(0)
    assert not flushed.called
    gate.callback(None)
    await flushed
    assert [m.msg_id for m in store.messages] == ["id1"]
    await rec.flush()  # nothing pending: fires at once


@pytest_twisted.ensureDeferred
async def test_failed_writes_are_retried_and_do_not_block_flush():
    """When the store is down, flush still returns, and the batch is written once it is back."""
    store, clock = FakeStore(), Clock()
    store.fail = StoreUnavailable("restarting")
    rec = MessageRecorder(store, clock, batch_size=10, delay=0.2, retry=1.0)
    rec.record(env(1), (), ())
    flushed = rec.flush()
    clock.advance(0)
    assert flushed.called and store.messages == []
    store.fail = None
    clock.advance(1.0)
    assert [m.msg_id for m in store.messages] == ["id1"]


@pytest_twisted.ensureDeferred
async def test_the_next_full_batch_is_encoded_while_a_write_runs_and_sent_as_encoded():
    """A full batch waiting behind a write is encoded then (the store's ``prepare_messages_with_items``); its
    write sends that encoding. A batch that is not exactly the one encoded (a failed write put its messages
    back in front) is encoded when sent: what a write stores never depends on what was prepared."""
    from hubs.stream.model import Reason, StreamQuery

    store, clock = FakeStore(), Clock()
    gates: list[defer.Deferred] = []
    sent, encoded = [], []
    real_add, real_prepare = store.add_messages_with_items, store.prepare_messages_with_items

    async def gated(messages, items, hub_items=(), prepared=None):
        sent.append(([m.msg_id for m in messages], prepared is not None))
        gate = defer.Deferred()
        gates.append(gate)
        await gate
        return await real_add(messages, items, hub_items, prepared=prepared)

    def preparing(messages, items, hub_items=()):
        encoded.append([m.msg_id for m in messages])
        return real_prepare(messages, items, hub_items)

    store.add_messages_with_items, store.prepare_messages_with_items = gated, preparing
    rec = MessageRecorder(store, clock, batch_size=3, delay=0.2, retry=1.0)
    why = {"ralph": (Reason("actor"),)}
    for n in range(1, 4):
        rec.record(env(n), items=why)
    clock.advance(0)
    assert sent == [(["id1", "id2", "id3"], False)] and encoded == []
    for n in range(4, 8):
        rec.record(env(n), items=why)
    assert encoded == [["id4", "id5", "id6"]]  # once full, while the first write runs
    gates[0].callback(None)
    clock.advance(0)
    assert sent[1] == (["id4", "id5", "id6"], True)
    gates[1].errback(StoreUnavailable("connection lost"))  # id4-6 go back in front of id7
    clock.advance(1.0)
    assert sent[2] == (["id4", "id5", "id6"], False)
    gates[2].callback(None)
    clock.advance(0.2)
    assert sent[3] == (["id7"], False)
    gates[3].callback(None)
    assert rec.stored == 7 and sorted(m.msg_id for m in store.messages) == [f"id{n}" for n in range(1, 8)]
    assert len(await store.stream_page("ralph", StreamQuery())) == 7


def test_backlog_is_bounded():
    """If the store cannot keep up, the oldest unsaved messages are dropped, counted."""
    store, clock = FakeStore(), Clock()
    rec = MessageRecorder(store, clock, batch_size=1000, delay=10, max_pending=5)
    for n in range(8):
        rec.record(env(n), (), ())
    assert len(rec.pending) == 5 and rec.dropped == 3


@pytest_twisted.ensureDeferred
async def test_pruner_runs_on_its_clock():
    """The pruner creates months ahead and deletes by age at start, then again every interval."""
    from tests.test_store import _msg

    store, clock = FakeStore(), Clock()
    await store.add_messages([_msg(i, i * 10 * 86400, ["ralph"]) for i in range(1, 11)])  # 1970-01-11 … 04-11
    clock.advance(110 * 86400.0)  # 1970-04-21
    pruner = Pruner(store, clock, max_age_days=40, max_rows=100, interval=60, ahead=2)
    pruner.start()
    await defer.succeed(None)
    assert pruner.created == ["messages_p1970_04", "messages_p1970_05", "messages_p1970_06"]
    assert pruner.last_deleted == 6 and len(store.messages) == 4  # stragglers older than 40 days, one by one
    clock.advance(61 * 86400.0)  # 1970-06-21: April is wholly older than 40 days now
    await defer.succeed(None)
    assert pruner.created == ["messages_p1970_07", "messages_p1970_08"]
    assert pruner.last_deleted == 4 and store.messages == []
    pruner.stop()


@pytest_twisted.ensureDeferred
async def test_a_message_the_store_refuses_does_not_block_the_others():
    """One bad message in a batch is dropped (counted); the rest of the batch is stored."""
    store, clock = FakeStore(), Clock()
    real = store.add_messages

    async def picky(batch):
        if any(m.msg_id == "id3" for m in batch):
            raise ValueError("A string literal cannot contain NUL (0x00) characters.")
        return await real(batch)

    store.add_messages = picky
    rec = MessageRecorder(store, clock, batch_size=10, delay=0.2)
    for n in range(1, 6):
        rec.record(env(n), (), ())
    flushed = rec.flush()
    clock.advance(0)
    await flushed
    assert sorted(m.msg_id for m in store.messages) == ["id1", "id2", "id4", "id5"] and rec.dropped == 1
    rec.record(env(6), (), ())
    clock.advance(0.2)
    assert len(store.messages) == 5  # the recorder keeps going


def test_nul_characters_are_removed():
    """NUL characters, which PostgreSQL refuses, are dropped from every field."""
    m = stored_message(env(1, msg={"a\x00": ["b\x00c"]}, msg_id="x\x00y"), ["ra\x00lph"], [], now=5000.0)
    assert m.body["msg"] == {"a": ["bc"]} and m.msg_id == "xy" and m.usernames == ("ralph",)
