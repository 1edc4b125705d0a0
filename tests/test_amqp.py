"""The AMQP edge against a real RabbitMQ: consume, publish, drop junk, survive a broker restart.

Each test binds its own routing keys (a fresh prefix), so tests sharing the
machine's broker never see each other's messages. The broker restart test
runs on a private RabbitMQ node (``private_rabbitmq``) that it may stop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid

import pika
import pytest
import pytest_twisted
from fedora_messaging.message import Message
from twisted.internet import defer, reactor, task, threads
from twisted.internet.task import Clock

from hubs.bus.amqp import AmqpBus, AmqpConnection, AmqpSettings, AmqpSource, MultiBus, ShuttingDown, redact
from hubs.bus.dedupe import SeenIds
from hubs.bus.publish import FakeBus
from hubs.config import ConfigError
from hubs.demo import schema_messages as S
from tests import waiting
from tests.conftest import make_config
from tests.test_widgets import store  # noqa: F401  (a fixture: the demo people and hubs)

TIMEOUT = 20.0


class Round:
    """One test's own corner of the broker: a topic prefix and bindings nobody else uses."""

    def __init__(self, url: str, queue: str = "", **extra):
        self.uid = uuid.uuid4().hex[:10]
        self.prefix = f"org.fedoraproject.t{self.uid}"
        self.settings = AmqpSettings(url, bindings=({"exchange": "amq.topic",
                                                     "routing_keys": [f"{self.prefix}.#", f"t{self.uid}.#"]},),
                                     queue=queue, **extra)
        self.received = []
        self.sources: list[AmqpSource] = []
        self.connections: list[AmqpConnection] = []

    def retopic(self, message: Message) -> Message:
        """The same message on this round's prefix."""
        short = message.topic.split(".", 3)[3]
        message.topic = f"{self.prefix}.{short}"
        return message

    def source(self, deliver=None, **kw) -> AmqpSource:
        src = AmqpSource(self.settings, reactor, deliver or self.received.append, **kw)
        self.sources.append(src)
        return src

    def publisher(self) -> AmqpConnection:
        conn = AmqpConnection(AmqpSettings(self.settings.url))
        conn.start()
        self.connections.append(conn)
        return conn

    async def close(self) -> None:
        for src in self.sources:
            await src.stop()
        for conn in self.connections:
            await conn.stop()


async def wait_until(predicate, timeout: float = TIMEOUT, what: str = "") -> None:
    """Poll (real time: a real broker is on the other side), failing after ``timeout`` seconds."""
    await waiting.wait_until(predicate, timeout, what or "the condition")


async def settle(seconds: float = 0.5) -> None:
    await task.deferLater(reactor, seconds, lambda: None)


def raw_publish(url: str, items: list[tuple[str, dict, bytes]]) -> None:
    """Publish bytes with pika's blocking client (what a misbehaving publisher can send)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for routing_key, headers, body in items:
            props = pika.BasicProperties(content_type="application/json", content_encoding="utf-8", headers=headers,
                                         message_id=str(uuid.uuid4()), delivery_mode=2)
            channel.basic_publish("amq.topic", routing_key, body, props)
    finally:
        connection.close()


@pytest.fixture
def rounds():
    made: list[Round] = []
    yield made
    for r in made:
        pytest_twisted.blockon(defer.ensureDeferred(r.close()))


# ---------------------------------------------------------------- pure parts


def test_queue_and_bindings_settings():
    """Default: a fresh exclusive auto-deleted UUID queue; a name: a durable queue; bindings on it."""
    fresh = AmqpSettings("amqp://h/").queues("0b8e-uuid")
    assert fresh == {"0b8e-uuid": {"durable": False, "auto_delete": True, "exclusive": True, "arguments": {}}}
    named = AmqpSettings("amqp://h/", queue="hubs").queues("ignored")
    assert named == {"hubs": {"durable": True, "auto_delete": False, "exclusive": False, "arguments": {}}}
    assert AmqpSettings("amqp://h/").bindings_for("q") == [{"exchange": "amq.topic", "routing_keys": ["#"],
                                                            "queue": "q"}]


@pytest.mark.parametrize(("url", "shown"), [
    ("amqp://guest:guest@127.0.0.1:5672/%2F", "amqp://guest:***@127.0.0.1:5672/%2F"),
    ("amqps://rabbitmq.fedoraproject.org/%2Fpublic_pubsub", "amqps://rabbitmq.fedoraproject.org/%2Fpublic_pubsub"),
])
def test_redact(url, shown):
    """Passwords never reach logs or /healthz."""
    assert redact(url) == shown


# (fedmsg.d keys, problem in the error or None)
CONFIGS = [
    ({}, None),
    ({"hubs.amqp.url": "amqp://guest:guest@127.0.0.1/%2F"}, None),
    ({"hubs.amqp.url": "http://x"}, "amqp:// or amqps://"),
    ({"hubs.amqp.url": "amqp://h/", "hubs.amqp.bindings": [{"exchange": "amq.topic"}]}, "binding 1"),
    ({"hubs.amqp.url": "amqp://h/", "hubs.amqp.prefetch": 0}, "prefetch"),
    ({"hubs.amqp.url": "amqp://h/", "hubs.amqp.tls.certfile": "/c.pem", "hubs.amqp.tls.keyfile": "/k.pem"},
     "need an amqps:// URL"),
    ({"hubs.amqp.url": "amqps://h/", "hubs.amqp.tls.certfile": "/c.pem"}, "go together"),
    ({"hubs.amqp.url": "amqps://h/%2Fpublic_pubsub", "hubs.amqp.tls.certfile": "/c.pem",
      "hubs.amqp.tls.keyfile": "/k.pem", "hubs.amqp.tls.ca_cert": "/ca.pem"}, None),
    ({"hubs.seen_ids": 0}, "hubs.seen_ids"),
    ({"hubs.demo_feed.interval": 4.0}, None),
    ({"hubs.demo_feed.interval": 0.1}, "hubs.demo_feed.interval"),
]


@pytest.mark.parametrize(("keys", "problem"), CONFIGS)
def test_amqp_config(keys, problem):
    """The hubs.amqp.* keys are checked with the rest of the config; unset URL means AMQP is off."""
    from hubs.config import HubsConfig

    raw = {"hubs.db.dsn": "dbname=x", "hubs.memcached.servers": "127.0.0.1:1", **keys}
    if problem is None:
        config = HubsConfig.from_fedmsg(raw)
        settings = config.amqp_settings()
        assert (settings is None) == ("hubs.amqp.url" not in keys)
        if settings is not None:
            assert settings.url == keys["hubs.amqp.url"] and settings.bindings[0]["routing_keys"] == ["#"]
    else:
        with pytest.raises(ConfigError, match=problem):
            HubsConfig.from_fedmsg(raw)


# (started, connected, reading, halted) -> (ok, reason starts with)
SOURCE_STATES = [
    ((False, False, False, None), (False, "stopped")),
    ((True, False, False, None), (False, "not connected")),
    ((True, False, False, "unknown encoding"), (False, "not connected")),
    ((True, True, False, "PermissionException: no"), (False, "the consumer halted (PermissionException: no)")),
    ((True, True, True, "earlier trouble"), (False, "the consumer halted")),
    ((True, True, False, None), (False, "connected, not consuming yet")),
    ((True, True, True, None), (True, "consuming")),
]


@pytest.mark.parametrize(("state", "expected"), SOURCE_STATES)
def test_a_source_is_ok_only_while_it_consumes(state, expected):
    """Halted, reconnecting, not yet consuming or stopped: not ok, with the reason; consuming: ok."""
    from hubs.bus.amqp.source import source_state

    started, connected, reading, halted = state
    ok, reason = source_state(started=started, connected=connected, reading=reading, halted=halted)
    assert ok == expected[0] and reason.startswith(expected[1])


@pytest_twisted.ensureDeferred
async def test_health_tells_a_source_that_does_not_consume():
    """Started without a broker, or with its consumer halted, a source's health says not ok, and why."""
    from twisted.python.failure import Failure

    src = AmqpSource(AmqpSettings("amqp://guest:guest@127.0.0.1:1/%2F"), reactor, lambda m: None)
    assert src.health()["ok"] is False and src.health()["reason"] == "stopped"
    src.start()
    try:
        health = src.health()
        assert (health["ok"], health["consuming"]) == (False, False) and health["reason"].startswith("not connected")
        src._consumer_halted(Failure(RuntimeError("unknown encoding: gzip")))
        assert src.halted == "unknown encoding: gzip" and src.health()["ok"] is False
    finally:
        await src.stop()


def test_health_reads_the_injected_clock():
    """The last message's age comes from the clock given, not the wall clock."""
    clock = Clock()
    clock.advance(1000)
    src = AmqpSource(AmqpSettings("amqp://guest:guest@127.0.0.1:1/%2F"), reactor, lambda m: None, clock=clock)
    assert src.health()["last_message_age"] is None and src.health()["connected"] is False
    src.take(S.badge_award("ralph", "Origin"))
    clock.advance(7.5)
    health = src.health()
    assert (health["messages"], health["last_message_age"], health["url"]) == (1, 7.5,
                                                                               "amqp://guest:***@127.0.0.1:1/%2F")


def test_a_message_released_by_stop_is_not_reported_slow_later(caplog):
    """Stopping gives an in-progress message back to the queue; its timeout must not fire afterwards (it
    logged "took over 30 s" from a stopped source, into whatever ran 30 s later)."""
    clock = Clock()
    src = AmqpSource(AmqpSettings("amqp://guest:guest@127.0.0.1:1/%2F", handle_timeout=30), reactor,
                     lambda m: defer.Deferred(), clock=clock)
    taken = src.take(S.badge_award("ralph", "Origin"))
    outcomes: list = []
    taken.addBoth(outcomes.append)
    src.stop()
    clock.advance(31)
    assert len(outcomes) == 1 and outcomes[0].check(ShuttingDown) and src.slow == 0
    assert clock.getDelayedCalls() == [] and "took over" not in caplog.text


def test_multibus_publishes_on_every_bus_and_survives_one_failing():
    """Every bus gets each message; one bus raising does not stop the others; all failing raises."""
    a, b = FakeBus(), FakeBus()
    bus = MultiBus([a, b])
    a.fail = RuntimeError("down")
    bus.publish("widget.add", {"hub": "x"})
    assert len(b.sent) == 1 and not bus.healthy()
    b.fail = RuntimeError("down too")
    with pytest.raises(RuntimeError):
        bus.publish("widget.add", {"hub": "x"})


# ---------------------------------------------------------------- against the broker


@pytest_twisted.ensureDeferred
async def test_a_published_message_reaches_hubs_as_a_bus_message(amqp_url, rounds):
    """A schema'd message published through the service arrives as a BusMessage, its meaning from its class."""
    r = Round(amqp_url)
    rounds.append(r)
    src = r.source()
    await src.start()
    message = r.retopic(S.bodhi_comment("mizmo", "ralph", "fedmsg-1-1", "FEDORA-1", "ok"))
    await r.publisher().factory.publish(message, "amq.topic")
    await wait_until(lambda: r.received, what="the message")
    got = r.received[0]
    assert (got.topic, got.id, got.source, got.agent) == (message.topic, message.id, "amqp", "mizmo")
    assert got.usernames == {"mizmo", "ralph"} and got.packages == {"fedmsg"}
    assert "commented on update" in got.summary and got.link.endswith("/updates/FEDORA-1")
    health = src.health()
    assert health["connected"] and health["consuming"] and health["messages"] == 1 and health["dropped"] == {}
    assert 0 <= health["last_message_age"] < TIMEOUT and health["queue"] == src.queue


@pytest_twisted.ensureDeferred
async def test_another_application_publishing_with_the_api(amqp_url, rounds):
    """A message sent by another process with fedora_messaging.api.publish reaches Hubs."""
    r = Round(amqp_url)
    rounds.append(r)
    await r.source().start()
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as conf:
        conf.write(f'amqp_url = "{amqp_url}"\ntopic_prefix = "{r.prefix}"\n')
    script = ("from fedora_messaging import api\n"
              "from hubs.demo import schema_messages as S\n"
              "m = S.badge_award('ralph', 'Origin')\n"
              "m.topic = 'badges.badge.award'\n"
              "api.publish(m)\nprint(m.id)\n")
    out = await threads.deferToThread(subprocess.run, [sys.executable, "-c", script], capture_output=True, text=True,
                                      timeout=60, env=dict(os.environ, FEDORA_MESSAGING_CONF=conf.name))
    os.unlink(conf.name)
    assert out.returncode == 0, out.stderr[-2000:]
    await wait_until(lambda: r.received, what="the api's message")
    got = r.received[0]
    assert got.id == out.stdout.strip() and got.topic == f"{r.prefix}.badges.badge.award"
    assert got.usernames == {"ralph"} and "awarded the badge `Origin`" in got.summary


@pytest_twisted.ensureDeferred
async def test_junk_and_poison_are_dropped_counted_and_never_requeued(amqp_url, rounds):
    """Schema-invalid, unparsable, short-topic and failing messages are dropped once each; the rest flows on."""
    r = Round(amqp_url)
    rounds.append(r)
    calls: list[str] = []

    def deliver(message):
        calls.append(message.topic)
        if message.topic.endswith(".poison.now"):
            raise ValueError("Hubs cannot take this")
        if message.topic.endswith(".fails.later"):
            return defer.fail(RuntimeError("a rebuild exploded"))
        return None

    src = r.source(deliver)
    await src.start()
    badge = {"fedora_messaging_schema": "badges.badge.award.v1", "fedora_messaging_severity": 20}
    plain = {"fedora_messaging_schema": "base.message", "fedora_messaging_severity": 20}
    await threads.deferToThread(raw_publish, amqp_url, [
        (f"{r.prefix}.badges.badge.award", badge, b'{"user": {"username": 7}}'),   # fails the schema
        (f"{r.prefix}.thing.happened", plain, b"{not json"),                        # not JSON
        (f"t{r.uid}.short", plain, b"{}"),                                          # no usable topic
        (f"{r.prefix}.poison.now", plain, b"{}"),                                   # Hubs raises
        (f"{r.prefix}.fails.later", plain, b"{}"),                                  # Hubs fails later
        (f"{r.prefix}.all.good", plain, b'{"fine": true}'),
    ])
    await wait_until(lambda: f"{r.prefix}.all.good" in calls, what="the good message")
    await settle(1.0)  # a requeued message would be back by now
    assert calls == [f"{r.prefix}.poison.now", f"{r.prefix}.fails.later", f"{r.prefix}.all.good"]
    assert src.health()["dropped"] == {"invalid": 2, "topic has fewer than four parts": 1, "failed": 2}
    assert src.health()["connected"] and src.messages == 3


@pytest_twisted.ensureDeferred
async def test_a_message_seen_twice_is_delivered_once(amqp_url, rounds):
    """With a SeenIds, the same id arriving again (bridged) is acknowledged, not delivered."""
    r = Round(amqp_url)
    rounds.append(r)
    seen = SeenIds(100)
    seen.first_time("came-by-fedmsg")
    src = r.source(seen=seen)
    await src.start()
    pub = r.publisher()
    for message_id in ("one", "one", "came-by-fedmsg", "two"):
        message = r.retopic(S.badge_award("ralph", "Origin"))
        message.id = message_id
        await pub.factory.publish(message, "amq.topic")
    await wait_until(lambda: src.messages == 4, what="four messages")
    assert [m.id for m in r.received] == ["one", "two"] and src.duplicates == 2


@pytest_twisted.ensureDeferred
async def test_slow_handling_is_acknowledged_after_the_timeout(amqp_url, rounds):
    """A deliver that never finishes holds the consumer at most handle_timeout per message."""
    r = Round(amqp_url, handle_timeout=0.3)
    rounds.append(r)
    src = r.source(lambda m: (r.received.append(m), defer.Deferred())[1])
    await src.start()
    pub = r.publisher()
    for _ in range(2):
        await pub.factory.publish(r.retopic(S.badge_award("ralph", "Origin")), "amq.topic")
    await wait_until(lambda: src.slow == 2, what="two slow messages")
    assert len(r.received) == 2 and src.dropped == {}


@pytest_twisted.ensureDeferred
async def test_stopping_releases_a_message_in_progress_back_to_the_durable_queue(amqp_url, rounds):
    """Stopping while Hubs holds a message frees the waiting thread; the message is requeued, not lost."""
    r = Round(amqp_url, queue=f"hubs-test-{uuid.uuid4().hex[:8]}")
    rounds.append(r)
    first = r.source(lambda m: (r.received.append(m), defer.Deferred())[1])
    await first.start()
    message = r.retopic(S.badge_award("ralph", "Origin"))
    await r.publisher().factory.publish(message, "amq.topic")
    await wait_until(lambda: r.received, what="the message to be in progress")
    await first.stop()
    again: list = []
    second = r.source(again.append)
    await second.start()
    await wait_until(lambda: again, what="the requeued message")
    assert again[0].id == message.id and first.dropped == {}
    await threads.deferToThread(_delete_queue, amqp_url, r.settings.queue)


def _delete_queue(url: str, queue: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        connection.channel().queue_delete(queue)
    finally:
        connection.close()


@pytest_twisted.ensureDeferred
async def test_hubs_change_messages_round_trip(amqp_url, rounds):
    """AmqpBus publishes Hubs' change messages with Hubs' schema; a source hears them with their summary."""
    r = Round(amqp_url)
    rounds.append(r)
    await r.source().start()
    bus = AmqpBus(r.publisher(), topic_prefix=f"org.fedoraproject.t{r.uid}", environment="dev")
    fake = FakeBus()
    MultiBus([fake, bus]).publish("role.update", {"hub": "designteam", "username": "ralph", "role": "member",
                                                  "action": "add", "agent": "mizmo"})
    await wait_until(lambda: r.received, what="the change message")
    got = r.received[0]
    assert got.topic == f"{r.prefix}.dev.hubs.role.update" and got.body["hub"] == "designteam"
    assert got.summary == "ralph is now a member of the designteam hub" and got.usernames == {"mizmo", "ralph"}
    assert len(fake.sent) == 1 and bus.published == 1 and bus.healthy()
    with pytest.raises(Exception, match="is a required property"):
        bus.publish("widget.update", {"hub": "x", "agent": "a"})


# ---------------------------------------------------------------- broker restart (private node)


@pytest_twisted.ensureDeferred
async def test_broker_restart_durable_queue_loses_nothing(private_rabbitmq, rounds):
    """The consumer reconnects by itself; every message published while it was away is delivered, once."""
    r = Round(private_rabbitmq.url, queue=f"hubs-test-{uuid.uuid4().hex[:8]}")
    rounds.append(r)
    src = r.source()
    await src.start()
    sent: list[str] = []

    async def publish(n: int) -> None:
        pub = r.publisher()
        for _ in range(n):
            message = r.retopic(S.badge_award("ralph", "Origin"))
            await pub.factory.publish(message, "amq.topic")
            sent.append(message.id)

    await publish(10)
    await wait_until(lambda: len(r.received) == 10, what="ten messages before the restart")
    await threads.deferToThread(private_rabbitmq.ctl, "stop_app")
    await wait_until(lambda: not src.health()["connected"], what="the source to notice")
    await threads.deferToThread(private_rabbitmq.ctl, "start_app")
    await publish(40)  # into the durable queue, while the source is still reconnecting
    await wait_until(lambda: len(r.received) >= 50, timeout=60, what="all fifty messages")
    await settle(0.5)
    assert sorted(m.id for m in r.received) == sorted(sent) and len(sent) == 50
    assert src.health()["connected"] and src.health()["dropped"] == {}


@pytest_twisted.ensureDeferred
async def test_broker_restart_fresh_queue_resumes(private_rabbitmq, rounds):
    """With the default fresh queue, consuming resumes after a restart (the queue is declared again)."""
    r = Round(private_rabbitmq.url)
    rounds.append(r)
    src = r.source()
    await src.start()
    await threads.deferToThread(private_rabbitmq.ctl, "stop_app")
    await wait_until(lambda: not src.health()["connected"], what="the source to notice")
    await threads.deferToThread(private_rabbitmq.ctl, "start_app")
    await wait_until(lambda: src.health()["connected"], timeout=60, what="the source to reconnect")
    pub = r.publisher()
    message = r.retopic(S.koji_build("ralph", "fedmsg", "1.0"))
    await pub.factory.publish(message, "amq.topic")
    await wait_until(lambda: r.received, what="a message after the restart")
    assert r.received[0].id == message.id and json.dumps(r.received[0].body)


@pytest.mark.parametrize(("keys", "with_fedmsg", "source", "bus"), [
    ({}, True, False, "FakeBus"),
    ({"hubs.amqp.url": "amqp://guest:guest@127.0.0.1:1/%2F"}, True, True, "MultiBus"),
    ({"hubs.amqp.url": "amqp://guest:guest@127.0.0.1:1/%2F"}, False, True, "AmqpBus"),
    ({"hubs.amqp.url": "amqp://guest:guest@127.0.0.1:1/%2F", "hubs.amqp.publish": False}, True, True, "FakeBus"),
])
def test_amqp_edge_wiring(keys, with_fedmsg, source, bus):
    """fedmsg alone, AMQP alone, or both: the right source and the right bus to publish on."""
    from hubs.bus.amqp import amqp_edge

    config = make_config(**keys)
    edge = amqp_edge(config, reactor, lambda m: None, fedmsg_bus=FakeBus() if with_fedmsg else None,
                     seen=SeenIds(10))
    assert (edge.source is not None) == source and type(edge.bus).__name__ == bus
    if edge.source is not None:
        assert edge.source.seen is not None and edge.source.settings.queue == ""


@pytest_twisted.ensureDeferred
async def test_a_message_from_the_broker_redraws_the_right_widget(amqp_url, rounds, store,  # noqa: F811
                                                                 canned_services):
    """Broker → AmqpSource → MessageHandler.handle: ralph's badges widget is rebuilt, mizmo's is not."""
    from tests.test_widgets import add, payload, widget_hubs

    hubs = await widget_hubs(store, canned_services)
    ralph = await add(hubs, store, "ralph", "badges", {})
    mizmo = await add(hubs, store, "mizmo", "badges", {})
    before = [(await payload(hubs, w))["version"] for w in (ralph, mizmo)]
    r = Round(amqp_url)
    rounds.append(r)
    src = r.source(hubs.handler.handle)
    await src.start()
    await r.publisher().factory.publish(r.retopic(S.badge_award("ralph", "Origin")), "amq.topic")
    await wait_until(lambda: src.messages == 1 and not src._waiting, what="the award to be handled")
    after = [(await payload(hubs, w))["version"] for w in (ralph, mizmo)]
    assert after[0] > before[0] and after[1] == before[1]
    assert hubs.handler.stats["messages"] == 1 and src.dropped == {}
