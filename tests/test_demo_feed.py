"""The demo feed: realistic, valid messages about the demo hubs' people, on the injected clock."""

import random

import pytest
import pytest_twisted
from twisted.internet.task import Clock

from hubs.bus.message import envelope_problem, from_amqp
from hubs.demo import data as demo
from hubs.demo.feed import DemoFeed, amqp_publisher, demo_event, direct_delivery
from tests.test_amqp import Round, wait_until

DEMO_PEOPLE = {p for team in demo.teams("https://x") for role in ("owners", "members") for p in team[role]}


def test_every_event_is_valid_and_about_demo_people():
    """Both shapes of each event are well formed (schema-valid AMQP, usable fedmsg) and name a demo person."""
    rng = random.Random(1)
    kinds = set()
    for n in range(24):
        event = demo_event(n, rng)
        kinds.add(event.kind)
        assert envelope_problem(event.fedmsg) is None
        event.amqp.validate()
        message = from_amqp(event.amqp)
        assert message.usernames & DEMO_PEOPLE, event.kind
        assert message.summary and message.summary != message.topic
    assert kinds == {"badge", "bodhi", "pagure", "build", "meeting", "calendar", "accounts"}


def test_the_feed_follows_the_clock_and_stops():
    """One event per interval of the injected clock, none after stop; a failing bus does not stop it."""
    clock, sent = Clock(), []

    def send(event):
        sent.append(event)
        if len(sent) == 2:
            raise RuntimeError("bus down")

    feed = DemoFeed(clock, send, interval=4.0)
    feed.start()
    clock.advance(3.9)
    assert sent == []
    for _ in range(3):
        clock.advance(4.0)
    assert len(sent) == 3 and (feed.sent, feed.failed) == (2, 1)
    feed.stop()
    clock.advance(40)
    assert len(sent) == 3


def test_a_zero_interval_is_refused():
    """Off is 'not started', not an interval of zero."""
    with pytest.raises(ValueError):
        DemoFeed(Clock(), lambda e: None, interval=0)


def test_direct_delivery_hands_bus_messages_to_the_handler():
    """Without a bus, events reach ``deliver`` as BusMessages on the configured prefix."""
    got = []
    feed = DemoFeed(Clock(), direct_delivery(got.append, "org.fedoraproject", "dev"), interval=1)
    feed._tick()
    assert got[0].source == "amqp" and got[0].topic == "org.fedoraproject.dev.badges.badge.award"


@pytest_twisted.ensureDeferred
async def test_amqp_publisher_reaches_a_source(amqp_url):
    """Events published on the broker arrive at an AmqpSource bound to the environment's prefix."""
    r = Round(amqp_url)
    try:
        await r.source().start()
        feed = DemoFeed(Clock(), amqp_publisher(r.publisher(), f"org.fedoraproject.t{r.uid}", "demo"), interval=1)
        for _ in range(3):
            feed._tick()
        await wait_until(lambda: len(r.received) == 3, what="three demo messages")
        assert sorted(m.topic.split(".")[4] for m in r.received) == ["badges", "bodhi", "pagure"]  # sent at once
    finally:
        await r.close()
