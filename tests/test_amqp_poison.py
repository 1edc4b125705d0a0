"""No single AMQP message stops Hubs' consumer or floods its log (real RabbitMQ).

Messages the library cannot read (an encoding it does not know, JSON nested
too deep, a header of the wrong type) used to halt fedora-messaging's consumer
and, on a durable queue, come back at every restart. Each is now dropped
once, counted and logged in one bounded line; the messages behind it flow on.
"""

from __future__ import annotations

import gzip
import logging
import re
import uuid

import pika
import pytest
import pytest_twisted
from twisted.internet import threads

from tests.test_amqp import Round, rounds, settle, wait_until  # noqa: F401  (rounds: a fixture)

GOOD = {"fedora_messaging_schema": "base.message", "fedora_messaging_severity": 20}


def send(url: str, items: list[tuple[str, dict, bytes]]) -> None:
    """Publish raw deliveries with pika: (routing key, BasicProperties keywords, body)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for routing_key, props, body in items:
            props = {"content_type": "application/json", "content_encoding": "utf-8", "headers": GOOD,
                     "message_id": str(uuid.uuid4()), "delivery_mode": 2, **props}
            channel.basic_publish("amq.topic", routing_key, body, pika.BasicProperties(**props))
    finally:
        connection.close()


def queue_depth(url: str, queue: str) -> int:
    """Messages ready in a queue (a passive declare: it must exist)."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


def delete_queue(url: str, queue: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        connection.channel().queue_delete(queue)
    finally:
        connection.close()


def good(r: Round, n: int) -> list[tuple[str, dict, bytes]]:
    return [(f"{r.prefix}.good.message", {"message_id": f"good-{i}"}, b'{"n": %d}' % i) for i in range(n)]


# (name, properties, body): what the library raises on instead of refusing (it would halt the consumer)
UNREADABLE = [
    ("gzip", {"content_encoding": "gzip"}, gzip.compress(b'{"a": 1}')),              # LookupError
    ("base64", {"content_encoding": "base64"}, b"eyJhIjogMX0="),                    # not a text encoding
    ("deep JSON", {}, b"[" * 100_000),                                              # RecursionError
    ("schema list", {"headers": {**GOOD, "fedora_messaging_schema": ["x"]}}, b"{}"),  # TypeError
]


@pytest.mark.parametrize(("name", "props", "body"), UNREADABLE, ids=[u[0] for u in UNREADABLE])
@pytest_twisted.ensureDeferred
async def test_a_message_the_library_cannot_read_is_dropped_once_and_the_rest_flows_on(
        amqp_url, rounds, caplog, name, props, body):  # noqa: F811
    """A poison message then 100 good ones (durable queue): all 100 arrive, the poison is counted once and not
    redelivered, the consumer never halts and stays ok."""
    caplog.set_level(logging.INFO)
    r = Round(amqp_url, queue=f"hubs-test-{uuid.uuid4().hex[:8]}")
    rounds.append(r)
    counted: list[str] = []
    src = r.source(count=counted.append)
    await src.start()
    try:
        await threads.deferToThread(send, amqp_url, [(f"{r.prefix}.poison.{name.replace(' ', '_')}", props, body),
                                                     *good(r, 100)])
        await wait_until(lambda: len(r.received) == 100, timeout=30, what="the 100 good messages")
        await settle(0.5)
        assert [m.id for m in r.received] == [f"good-{i}" for i in range(100)]
        health = src.health()
        assert health["dropped"] == {"unreadable": 1} and counted == ["malformed"]
        assert health["ok"] and health["consuming"] and health["reason"] == "consuming"
        assert "halted" not in caplog.text
        assert await threads.deferToThread(queue_depth, amqp_url, r.settings.queue) == 0  # nothing to redeliver
    finally:
        await src.stop()
        await threads.deferToThread(delete_queue, amqp_url, r.settings.queue)


ROUND_TOPIC = re.compile(r"org\.fedoraproject\.t[0-9a-f]{10}")


def _lines(caplog, since: int = 0, prefix: str = "") -> list[logging.LogRecord]:
    """Warnings since ``since``; with ``prefix``, not those about another test's round (whose sources may
    still be closing)."""
    return [rec for rec in caplog.records[since:] if rec.levelno >= logging.WARNING
            and not (prefix and any(p != prefix for p in ROUND_TOPIC.findall(rec.getMessage())))]


@pytest_twisted.ensureDeferred
async def test_bad_messages_log_one_bounded_line_each_whatever_the_library_does(amqp_url, rounds, caplog):  # noqa: F811
    """A 5 MB body without headers, schema-invalid bodies, a gzip body: one line of at most 600 characters
    for each message dropped; a message taken despite a missing severity: one line for its kind, not one each."""
    caplog.set_level(logging.INFO)
    r = Round(amqp_url)
    rounds.append(r)
    src = r.source()
    await src.start()
    before = len(caplog.records)
    huge = b'{"x": "' + b"A" * (5 * 1024 * 1024) + b'"}'
    no_severity = {"fedora_messaging_schema": "base.message"}
    await threads.deferToThread(send, amqp_url, [
        (f"{r.prefix}.huge.nothing", {"headers": None, "message_id": "huge"}, huge),   # taken: base class, no headers
        (f"{r.prefix}.not.json", {"message_id": "not-json"}, b"{" * 3000),
        (f"{r.prefix}.list.body", {"message_id": "list-body"}, b"[" + b"1," * 50_000 + b"1]"),
        (f"{r.prefix}.gzip.body", {"message_id": "gzip", "content_encoding": "gzip"}, gzip.compress(huge)),
        *[(f"{r.prefix}.no.severity", {"message_id": f"nosev-{i}", "headers": no_severity}, b"{}") for i in range(5)],
        (f"{r.prefix}.all.good", {"message_id": "last"}, b"{}"),
    ])
    await wait_until(lambda: r.received and r.received[-1].id == "last", timeout=30, what="the last message")
    lines = _lines(caplog, before, r.prefix)
    text = [rec.getMessage() for rec in lines]
    assert max(len(t) for t in text) <= 600, max(text, key=len)[:300]
    dropped = [t for t in text if t.startswith("dropping AMQP message")]
    assert len(dropped) == 3 and src.health()["dropped"] == {"invalid": 2, "unreadable": 1}
    for message_id in ("'not-json'", "'list-body'", "'gzip'"):
        assert sum(message_id in t for t in text) == 1, (message_id, text)
    assert sum("'huge'" in t for t in text) <= 1 and sum("nosev-" in t for t in text) == 1
    assert len(lines) <= 5, text
    assert [m.id for m in r.received] == ["huge", *[f"nosev-{i}" for i in range(5)], "last"]


@pytest_twisted.ensureDeferred
async def test_a_newline_in_a_routing_key_or_message_id_cannot_forge_a_log_line(amqp_url, rounds, caplog):  # noqa: F811
    """Routing keys and message ids are quoted with their newlines escaped, in Hubs' lines and the library's."""
    caplog.set_level(logging.INFO)
    r = Round(amqp_url)
    rounds.append(r)

    def refuse(message):
        raise ValueError("no\nthanks")

    src = r.source(refuse)
    await src.start()
    forged = "\n2026-12-01 00:00:00 [hubs CRITICAL] forged"
    await threads.deferToThread(send, amqp_url, [
        (f"{r.prefix}.fine.topic{forged}", {"message_id": f"id{forged}"}, b"{}"),
        (f"{r.prefix}.gzip.topic{forged}", {"message_id": f"id2{forged}", "content_encoding": "gzip"}, b"x"),
    ])
    await wait_until(lambda: sum(src.dropped.values()) == 2, what="both messages dropped")
    for record in caplog.records:
        if not record.name.startswith(("hubs", "fedora_messaging", "twisted")):
            continue  # pika's own lines are at debug level, off in production
        message = record.getMessage()
        assert "\n" not in message and "\r" not in message, message
    ours = [rec.getMessage() for rec in _lines(caplog) if rec.name.startswith("hubs")]
    assert len(ours) == 2 and all(line.startswith("dropping AMQP message 'id") for line in ours), ours
