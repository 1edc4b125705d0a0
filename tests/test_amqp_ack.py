"""AMQP acknowledgements: once a message is decided and stored, not once every widget it hits is rebuilt.

fedora-messaging hands Hubs one message at a time and waits for its
acknowledgement, so an acknowledgement that waited for the rebuilds let one
slow ``data()`` stop all AMQP intake, while the durable part (the message
store, written in batches) was not awaited at all.
"""

from __future__ import annotations

import json
import signal
import time
import uuid
from dataclasses import replace

import psycopg2
import pytest
import pytest_twisted
from twisted.internet import defer, reactor, threads

from hubs.bus.fedmsg import read_envelope
from hubs.db.recorder import MessageRecorder
from hubs.testing.harness import make_hubs
from hubs.widgets import load_registry
from tests.conftest import make_config, services_settings
from tests.fleet import wait_for
from tests.hubproc import HubProcess
from tests.test_amqp import Round, rounds, settle, wait_until  # noqa: F401  (rounds: a fixture)
from tests.test_amqp_poison import delete_queue, send

REGISTRY = load_registry()
POKE = "hubs.dummy.poke"  # the short topic the seeded dummy widget (3, designteam) redraws on


def poke(env: str = "prod", msg_id: str | None = None) -> dict:
    return {"topic": f"org.fedoraproject.{env}.{POKE}", "msg": {}, "msg_id": msg_id or uuid.uuid4().hex,
            "timestamp": 1}


class Viewer:
    """An open stream that keeps nothing."""

    def send(self, frame, chunk):
        pass


def hanging_registry(pending: list[defer.Deferred]) -> dict:
    """The registry with a dummy widget whose ``data()`` never returns (until the test says so)."""

    def data(ctx, widget, **config):
        pending.append(defer.Deferred())
        return pending[-1]

    return {**REGISTRY, "dummy": replace(REGISTRY["dummy"], data=data)}


@pytest_twisted.ensureDeferred
async def test_take_fires_once_the_message_is_stored_while_handle_waits_for_the_rebuild(
        config, fake_store, fake_cache, fake_bus, clock):
    """take() fires as soon as the hitting message is stored, its widget still building; handle() waits for it."""
    pending: list[defer.Deferred] = []
    hubs = await make_hubs(config, fake_store, fake_cache, fake_bus, clock, registry=hanging_registry(pending),
                           recorder=MessageRecorder(fake_store, clock))
    hubs.streams.add("designteam", Viewer())  # someone views the hub: the message rebuilds its widget
    taken = hubs.handler.take(read_envelope(poke(msg_id="first")))
    assert not taken.called and pending  # the build started; the batch is written at the next turn
    clock.advance(0)
    assert taken.called and [m.msg_id for m in fake_store.messages] == ["first"]
    assert not pending[0].called  # the widget is still building
    handled = hubs.handler.handle(read_envelope(poke(msg_id="second")))
    clock.advance(0)
    assert not handled.called  # handle() keeps its meaning: done once the rebuilds are
    for _ in range(2):  # the first build times out, then the one coalesced behind it for "second"
        clock.advance(config.widget_timeout)
    assert handled.called


# (message, stored): a message with nothing to store is taken at once
TAKE_CASES = [
    ({"topic": "org.fedoraproject.prod.buildsys.repo.init", "msg": {}, "msg_id": "junk", "timestamp": 1}, False),
    (poke(msg_id="seen-before"), False),
    (poke(msg_id="fresh"), True),
]


@pytest.mark.parametrize(("message", "stored"), TAKE_CASES, ids=["junk", "duplicate", "fresh"])
@pytest_twisted.ensureDeferred
async def test_take_waits_only_for_what_it_stores(config, fake_store, fake_cache, fake_bus, clock, message, stored):
    """Junk and duplicates are taken at once; a fresh message once its row is written."""
    hubs = await make_hubs(config, fake_store, fake_cache, fake_bus, clock, recorder=MessageRecorder(fake_store, clock))
    hubs.handler.seen.first_time("seen-before")
    taken = hubs.handler.take(read_envelope(message))  # as AMQP's edge hands it over: the junk check is the handler's
    assert taken.called is not stored
    clock.advance(0)
    assert taken.called and [m.msg_id for m in fake_store.messages] == ([message["msg_id"]] if stored else [])


@pytest_twisted.ensureDeferred
async def test_a_widget_that_never_returns_does_not_delay_the_next_100_acknowledgements(
        amqp_url, rounds, fake_store, fake_cache, fake_bus):  # noqa: F811
    """Broker → AmqpSource → take(): 101 messages hitting a widget whose data() hangs are all acknowledged and
    stored within seconds (handle_timeout is 30 s), the widget still building."""
    pending: list[defer.Deferred] = []
    config = make_config(**{"hubs.widget.timeout": 120.0})
    hubs = await make_hubs(config, fake_store, fake_cache, fake_bus, reactor, registry=hanging_registry(pending),
                           recorder=MessageRecorder(fake_store, reactor))
    hubs.streams.add("designteam", Viewer())  # someone views the hub: the messages rebuild its widget
    r = Round(amqp_url)
    rounds.append(r)
    src = r.source(hubs.handler.take)
    await src.start()
    try:
        headers = {"fedora_messaging_schema": "base.message", "fedora_messaging_severity": 20}
        started = time.monotonic()
        await threads.deferToThread(send, amqp_url, [(f"{r.prefix}.{POKE}", {"message_id": f"m{i}",
                                                                           "headers": headers}, b"{}")
                                                     for i in range(101)])
        await wait_until(lambda: src.taken == 101, timeout=15, what="101 acknowledgements")
        took = time.monotonic() - started
        assert pending and not any(d.called for d in pending) and src.slow == 0
        assert sorted(m.msg_id for m in fake_store.messages) == sorted(f"m{i}" for i in range(101))
        assert took < 10, took
    finally:
        for d in pending:
            if not d.called:
                d.callback({"text": "late"})
        await src.stop()


# ---------------------------------------------------------------- a process killed after acknowledging


def stored_ids(dsn: str, environment: str) -> set[str]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT msg_id FROM messages WHERE topic LIKE %s", (f"org.fedoraproject.{environment}.%",))
        return {row[0] for row in cur.fetchall()}


def drain(url: str, queue: str) -> set[str]:
    """The ids of every message left in a queue (taken out)."""
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(url))
    ids = set()
    try:
        channel = connection.channel()
        while True:
            method, properties, _ = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return ids
            ids.add(properties.message_id)
    finally:
        connection.close()


@pytest.mark.e2e
def test_a_hub_killed_after_acknowledging_loses_no_message(tmp_path, demo_db, memcached_servers,
                                                           canned_services_process, amqp_url):
    """Durable queue, a hub killed (SIGKILL) mid-stream: every message is in the store or back in the queue."""
    environment = f"e2e{uuid.uuid4().hex[:8]}"
    queue = f"hubs-test-kill-{uuid.uuid4().hex[:8]}"
    servers = ",".join(f"{h}:{p}" for h, p in memcached_servers)
    hub = HubProcess(tmp_path, demo_db, servers, extra={
        **services_settings(canned_services_process), "environment": environment, "hubs.amqp.url": amqp_url,
        "hubs.amqp.queue": queue,
        "hubs.amqp.bindings": [{"exchange": "amq.topic", "routing_keys": [f"org.fedoraproject.{environment}.#"]}]})
    hub.start()
    try:
        wait_for(lambda: json.loads(hub.get("/healthz")[1]).get("amqp", {}).get("consuming"), 20, "the consumer")
        sent = [f"k{i}-{uuid.uuid4().hex[:6]}" for i in range(3000)]
        headers = {"fedora_messaging_schema": "base.message", "fedora_messaging_severity": 20}
        send(amqp_url, [(f"org.fedoraproject.{environment}.test.kill.{i % 7}", {"message_id": m, "headers": headers},
                         b'{"n": 1}') for i, m in enumerate(sent)])
        wait_for(lambda: len(stored_ids(demo_db, environment)) >= 300, 30, "300 messages stored")
        hub.proc.send_signal(signal.SIGKILL)
        hub.proc.wait(10)
    finally:
        hub.stop()
    time.sleep(1.0)  # the broker puts the dead connection's unacknowledged messages back
    left = drain(amqp_url, queue)
    stored = stored_ids(demo_db, environment)
    delete_queue(amqp_url, queue)
    assert left and stored, (len(left), len(stored))  # killed mid-stream
    lost = set(sent) - stored - left
    assert not lost, f"{len(lost)} acknowledged messages are neither stored nor queued, e.g. {sorted(lost)[:3]}"
