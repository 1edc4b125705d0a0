"""The shims over fedora-messaging (hubs.bus.shims), each pinned to the installed library.

These fail loudly when the library changes under Hubs: a renamed internal, a
read loop that reads differently, a logger that appears. None needs a broker.
"""

from __future__ import annotations

import gzip
import importlib
import inspect
import logging
import pkgutil

import pika
import pytest
import pytest_twisted
from fedora_messaging.exceptions import Drop, Nack
from fedora_messaging.message import Message
from twisted.internet import defer

from hubs.bus.amqp import AmqpConnection, AmqpSettings
from hubs.bus.shims import (
    LINE_LIMIT,
    Delivery,
    HubsConsumer,
    HubsProtocol,
    LibraryLog,
    _validate_with_checked_schemas,
    apply_library_config,
    library_line,
)
from hubs.demo import schema_messages as S

GOOD = {"fedora_messaging_schema": "base.message", "fedora_messaging_severity": 20}


# ---------------------------------------------------------------- what the library is expected to be


def test_the_library_still_raises_on_what_it_cannot_read():
    """get_message raises a plain LookupError for gzip (not its ValidationError): HubsConsumer is still needed.

    Should this fail, the library learned to refuse such messages itself: HubsConsumer may go."""
    from fedora_messaging.exceptions import ValidationError
    from fedora_messaging.message import get_message

    props = pika.BasicProperties(headers=dict(GOOD), content_encoding="gzip")
    with pytest.raises(Exception) as raised:
        get_message("a.b.c.d", props, gzip.compress(b"{}"))
    assert not isinstance(raised.value, ValidationError)


def test_the_library_reads_a_delivery_the_way_hubs_consumer_expects():
    """Consumer._read_one gets from the queue object, reads with get_message, catches only ValidationError
    (nacking without requeue) and counts stats.received before the callback; _read loops over _read_one."""
    from fedora_messaging.twisted.consumer import Consumer

    read_one = inspect.getsource(Consumer._read_one)
    steps = ["queue_object.get()", "channel, delivery_frame, properties, body = yield deferred_get",
             "get_message(topic, properties, body)", "except ValidationError:",
             "channel.basic_nack(delivery_tag=delivery_frame.delivery_tag, requeue=False)",
             "self.stats.received += 1", "threads.deferToThread(self.callback, message)",
             "channel.basic_ack(delivery_tag=delivery_frame.delivery_tag or 0)"]
    where = [read_one.find(step) for step in steps]
    assert -1 not in where and where == sorted(where), dict(zip(steps, where, strict=True))
    assert read_one.count("except ") == read_one.count("except (defer.TimeoutError, defer.CancelledError)") + 5
    assert "self._read_one(queue_object)" in inspect.getsource(Consumer._read)
    consumer = Consumer("q", print)
    assert consumer.stats.received == 0 and consumer._read_loop.called and consumer._running is False


def test_a_message_keeps_the_properties_it_was_read_from():
    """HubsConsumer finds a message's delivery by its properties: get_message must keep that very object."""
    from fedora_messaging.message import get_message

    props = pika.BasicProperties(headers=dict(GOOD), content_encoding="utf-8")
    assert get_message("a.b.c.d", props, b"{}")._properties is props


def test_our_factories_build_hubs_protocols_that_register_hubs_consumers():
    """The factory builds ``self.protocol`` (an attribute Hubs sets on its own factory only); the protocol's
    consume takes the consumer to reuse, as the factory passes it on reconnection."""
    from fedora_messaging.twisted.factory import FedoraMessagingFactoryV2
    from fedora_messaging.twisted.protocol import FedoraMessagingProtocolV2

    assert "self.protocol(" in inspect.getsource(FedoraMessagingFactoryV2.buildProtocol)
    assert "client.consume(record.consumer.callback, queue_name, record.consumer)" in inspect.getsource(
        FedoraMessagingFactoryV2.buildProtocol)
    assert list(inspect.signature(FedoraMessagingProtocolV2.consume).parameters) == [
        "self", "callback", "queue", "previous_consumer"]
    conn = AmqpConnection(AmqpSettings("amqp://guest:guest@127.0.0.1:1/%2F"))
    assert isinstance(conn.factory.buildProtocol(None), HubsProtocol)
    assert FedoraMessagingFactoryV2(pika.URLParameters("amqp://h/")).protocol is FedoraMessagingProtocolV2


def test_reading_follows_the_read_loop():
    """A HubsConsumer reads while running with a live read loop; the library's ``running`` alone would not say."""
    consumer = HubsConsumer("q", Told())
    assert not consumer.reading
    consumer._running, consumer._read_loop = True, defer.Deferred()
    assert consumer.reading
    consumer._read_loop.callback(None)  # the connection went away: the loop ended, running is still True
    assert consumer._running and not consumer.reading


def test_the_library_internals_health_relies_on():
    """``connected`` reads the factory's ``_client`` (what its when_connected uses): fail if that goes away."""
    import inspect

    from fedora_messaging.twisted.factory import FedoraMessagingFactoryV2

    assert "self._client" in inspect.getsource(FedoraMessagingFactoryV2.when_connected)
    conn = AmqpConnection(AmqpSettings("amqp://guest:guest@127.0.0.1:1/%2F"))
    assert conn.factory._client is None and conn.connected is False


def test_library_config_is_what_the_library_reads():
    """TLS, prefetch and our name go into fedora_messaging.config.conf, where the library reads them."""
    from fedora_messaging import config
    from fedora_messaging.twisted import consumer, service

    apply_library_config(AmqpSettings("amqp://h/", prefetch=7, client_name="Hubs test"))
    assert config.conf["qos"]["prefetch_count"] == 7 and config.conf["client_properties"]["app"] == "Hubs test"
    assert 'config.conf["qos"]["prefetch_count"]' in inspect.getsource(consumer.Consumer.consume)
    assert 'config.conf["tls"]' in inspect.getsource(service)
    apply_library_config(AmqpSettings("amqp://h/"))


# ---------------------------------------------------------------- HubsConsumer, on fakes


class FakeChannel:
    def __init__(self):
        self.acks: list[int] = []
        self.nacks: list[tuple[int, bool]] = []

    def basic_ack(self, delivery_tag=0, multiple=False):
        self.acks.append(delivery_tag)

    def basic_nack(self, delivery_tag=0, multiple=False, requeue=True):
        self.nacks.append((delivery_tag, requeue))


class OneDelivery:
    """A consumer's queue object holding one delivery."""

    def __init__(self, item):
        self.item = item

    def get(self):
        return defer.succeed(self.item)


class Told:
    """A screen that remembers; ``answer`` is what take() returns (None: take at once)."""

    def __init__(self, answer=None):
        self.taken: list = []
        self.drops: list[tuple[str, str]] = []
        self.flaws: list[str | None] = []
        self.answer = answer

    def take(self, message):
        self.taken.append(message)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def refused(self, reason, delivery, detail):
        self.drops.append((reason, detail))

    def flawed(self, delivery):
        self.flaws.append(delivery.complaint)


def delivery(props=None, tag=7):
    """A delivery's frame and properties, as pika hands them over."""
    frame = pika.spec.Basic.Deliver(delivery_tag=tag, routing_key="org.fedoraproject.prod.x.y")
    properties = pika.BasicProperties(**{"headers": dict(GOOD), "content_encoding": "utf-8", "message_id": "m1",
                                         **(props or {})})
    return frame, properties


# (name, properties, body, acked, nacked without requeue, dropped as, complaint)
DELIVERIES = [
    ("good", {}, b"{}", True, False, None, None),
    ("gzip", {"content_encoding": "gzip"}, gzip.compress(b"{}"), False, True, ("unreadable", "LookupError"), None),
    ("deep JSON", {}, b"[" * 100_000, False, True, ("unreadable", "RecursionError"), None),
    ("schema list", {"headers": {**GOOD, "fedora_messaging_schema": ["x"]}}, b"{}", False, True,
     ("unreadable", "TypeError"), None),
    ("not JSON", {}, b"{nope", False, True, ("invalid", "Failed to load message body '{nope'"), None),
    ("no severity", {"headers": {"fedora_messaging_schema": "base.message"}}, b"{}", True, False, None,
     "arrived without a severity"),
]


@pytest.mark.parametrize(("name", "props", "body", "acked", "nacked", "dropped", "complaint"), DELIVERIES,
                         ids=[d[0] for d in DELIVERIES])
@pytest_twisted.ensureDeferred
async def test_hubs_consumer_drops_what_the_library_cannot_read(name, props, body, acked, nacked, dropped,
                                                                complaint):
    """Each delivery is acked (read, taken), or nacked without requeue and told to the screen once; none raises."""
    told, channel = Told(), FakeChannel()
    consumer = HubsConsumer("q", told)
    await consumer._read_one(OneDelivery((channel, *delivery(props), body)))
    assert (channel.acks == [7], (7, False) in channel.nacks, len(channel.nacks) <= 1) == (acked, nacked, True)
    assert [m.id for m in told.taken] == (["m1"] if acked else [])
    if dropped is None:
        assert told.drops == []
    else:
        assert len(told.drops) == 1 and told.drops[0][0] == dropped[0]
        assert told.drops[0][1].startswith(dropped[1]), told.drops
    assert (told.flaws[0] if told.flaws else None) is None if complaint is None else complaint in told.flaws[0]
    assert LibraryLog.install().reading == []


@pytest_twisted.ensureDeferred
async def test_the_acknowledgement_waits_for_the_screen_while_the_next_message_is_read():
    """take() returned a Deferred: the delivery is acked when it fires, and the read loop has moved on."""
    answer = defer.Deferred()
    told, channel = Told(answer), FakeChannel()
    consumer = HubsConsumer("q", told)
    await consumer._read_one(OneDelivery((channel, *delivery(), b"{}")))  # the library is done with it
    assert channel.acks == [] and len(told.taken) == 1
    answer.callback(None)
    assert channel.acks == [7]


# (what take() does, acked, nacked with requeue, nacked without, told as failed)
ANSWERS = [
    (lambda: None, [7], [], [], False),
    (lambda: defer.fail(Drop()), [], [], [7], False),
    (lambda: defer.fail(Nack()), [], [7], [], False),
    (lambda: defer.fail(RuntimeError("a rebuild exploded")), [], [], [7], True),
]


@pytest.mark.parametrize(("answer", "acked", "requeued", "dropped", "failed"), ANSWERS,
                         ids=["taken", "Drop", "Nack", "failure"])
@pytest_twisted.ensureDeferred
async def test_the_screens_answer_settles_the_delivery(answer, acked, requeued, dropped, failed):
    """Taken: acked; Drop: nacked, not requeued; Nack: requeued; any other failure: dropped and told as failed."""
    told, channel = Told(answer()), FakeChannel()
    await HubsConsumer("q", told)._read_one(OneDelivery((channel, *delivery(), b"{}")))
    assert channel.acks == acked
    assert [t for t, requeue in channel.nacks if requeue] == requeued
    assert [t for t, requeue in channel.nacks if not requeue] == dropped
    assert [r for r, _ in told.drops] == (["failed"] if failed else [])


# ---------------------------------------------------------------- the library's loggers


def test_every_library_logger_is_tamed():
    """Every logger of every fedora_messaging module Hubs may load (not its tests, not its command-line tool,
    which installs an asyncio reactor) carries the one LibraryLog filter."""
    import fedora_messaging

    for module in pkgutil.walk_packages(fedora_messaging.__path__, "fedora_messaging."):
        if ".tests" not in module.name and module.name != "fedora_messaging.cli":
            importlib.import_module(module.name)
    the_filter = LibraryLog.install()
    names = [n for n in logging.root.manager.loggerDict if n == "fedora_messaging" or n.startswith("fedora_messaging.")]
    assert "fedora_messaging.message" in names and "fedora_messaging.twisted.consumer" in names
    untamed = [n for n in names if the_filter not in logging.getLogger(n).filters]
    assert untamed == [] and LibraryLog.install() is the_filter


def record(name, level, msg, *args, exc_info=None):
    return logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)


def test_a_library_line_is_one_bounded_line_whatever_its_values():
    """A 5 MB body, a newline in an id: the line is escaped, each value shortened, the whole bounded."""
    huge = record("fedora_messaging.message", logging.ERROR, "Message (body=%r) arrived without headers. "
                  "A publisher is misbehaving!", b"A" * 5_000_000)
    line = library_line(huge)
    assert len(line) < 200 and line.startswith("Message (body=b'AAAA") and line.endswith("misbehaving!")
    forged = record("fedora_messaging.twisted.consumer", logging.WARNING, "Message id %s did not pass", "x\nFAKE")
    assert "\n" not in library_line(forged) and "FAKE" in library_line(forged)
    assert library_line(record("x", logging.INFO, "%d of %s", 3, "q")) == "3 of 'q'"
    assert library_line(record("x", logging.INFO, "%d of %s", "three", "q")).startswith("%d of %s")
    assert len(library_line(record("x", logging.INFO, "x" * 10_000))) <= LINE_LIMIT + 20


def test_lines_about_a_message_are_held_back_while_it_is_read(caplog):
    """While a delivery is read, the library's lines about it are held back and its first warning kept;
    connection lines and unexpected exceptions still go through, shortened."""
    caplog.set_level(logging.DEBUG)
    library_log = LibraryLog.install()
    message_log = logging.getLogger("fedora_messaging.message")
    delivery = Delivery(message_id="m1", topic="a.b.c.d")
    library_log.begin(delivery)
    try:
        message_log.error("Message (body=%r) arrived without headers.", b"B" * 1_000_000)
        message_log.error("Message (headers=%r, body=%r) arrived without a severity.", {}, b"B" * 1_000_000)
        logging.getLogger("fedora_messaging.twisted.consumer").warning("Consumer requested message id %s be dropped",
                                                                       "m1")
        logging.getLogger("fedora_messaging.twisted.factory").warning("connection lost\nagain")
        try:
            raise RuntimeError("bug")
        except RuntimeError:
            logging.getLogger("fedora_messaging.twisted.consumer").exception("Received unexpected exception")
    finally:
        library_log.end(delivery)
    shown = [(r.name, r.getMessage()) for r in caplog.records if r.name.startswith("fedora_messaging")]
    assert shown == [("fedora_messaging.twisted.factory", "connection lost\\nagain"),
                     ("fedora_messaging.twisted.consumer", "Received unexpected exception")]
    assert delivery.complaint.startswith("Message (body=b'BBB") and "arrived without headers" in delivery.complaint
    assert len(delivery.complaint) <= 170
    message_log.error("Message (body=%r) arrived without headers.", b"C" * 1_000_000)  # not being read: shown
    assert len(caplog.records[-1].getMessage()) <= LINE_LIMIT + 20


# ---------------------------------------------------------------- once-checked schema validation


def _original_validate(message):
    """fedora-messaging's own Message.validate, whatever is installed."""
    import jsonschema

    for schema in (message.headers_schema, Message.headers_schema):
        jsonschema.validate(message._headers, schema)
    for schema in (message.body_schema, Message.body_schema):
        jsonschema.validate(message.body, schema)


def _bad(builder, mutate):
    message = builder()
    mutate(message.body)
    return message


VALIDATION_CASES = [
    S.badge_award("ralph", "Origin"),
    _bad(lambda: S.badge_award("ralph", "Origin"), lambda b: b["user"].update(username=7)),
    _bad(lambda: S.badge_award("ralph", "Origin"), lambda b: b.pop("badge")),
    _bad(lambda: S.bodhi_comment("a", "b", "n-1-1", "F-1", "x"), lambda b: b["comment"].update(karma="many")),
    _bad(lambda: S.koji_build("ralph", "x", "1"), lambda b: b.update(new="done", owner=3)),
    _bad(lambda: S.pagure_issue("a", "design", 1, "t"), lambda b: b["issue"].pop("title")),
    S.hubs_change("hubs.widget.add", {"hub": "h", "idx": 1, "plugin": "p", "agent": "a"}),
]


@pytest.mark.parametrize("message", VALIDATION_CASES)
def test_checked_schema_validation_raises_what_the_library_raises(message):
    """Once-checked schemas accept and refuse exactly what jsonschema.validate does, with the same error."""
    import jsonschema

    def outcome(fn):
        try:
            fn(message)
        except jsonschema.ValidationError as e:
            return (type(e), e.message, list(e.path))
        return None

    assert outcome(_original_validate) == outcome(_validate_with_checked_schemas)


def test_a_broken_schema_is_still_refused():
    """A schema that is not a valid schema raises SchemaError, as with jsonschema.validate."""
    import jsonschema

    class BadSchema(Message):
        body_schema = {"type": "object", "properties": {"x": {"type": "no-such-type"}}}

    message = BadSchema(body={"x": 1}, topic="a.b.c.d", properties=pika.BasicProperties(headers={}))
    with pytest.raises(jsonschema.SchemaError):
        _validate_with_checked_schemas(message)


@pytest_twisted.ensureDeferred
async def test_a_screen_that_raises_does_not_stop_the_read_loop(caplog):
    """A bug in the screen's report is logged; the delivery is still settled and the loop reads on."""

    class Broken(Told):
        def refused(self, reason, delivery, detail):
            raise TypeError("screen bug")

    channel = FakeChannel()
    result = await HubsConsumer("q", Broken())._read_one(
        OneDelivery((channel, *delivery({"content_encoding": "gzip"}), b"x")))
    assert result is None and channel.nacks == [(7, False)] and "screen failed on refused" in caplog.text
