"""The fedmsg edge: junk first, then the one envelope check, then a BusMessage (the rest end to end in
test_e2e_hub.py)."""

import logging

import pytest
import pytest_twisted

from hubs.bus.fedmsg import Dropped, FedmsgEdge, read_envelope
from hubs.bus.message import BusMessage
from hubs.metrics import Metrics

JUNK = ["buildsys.repo.init"]
GOOD = "org.fedoraproject.prod.badges.badge.award"

ENVELOPES = [
    # (envelope, what the edge makes of it: a BusMessage's topic, or (outcome, reason))
    ({"topic": GOOD, "msg": {}}, GOOD),
    ({"topic": GOOD, "msg": "text is fine"}, GOOD),
    ({"topic": "org.fedoraproject.prod.buildsys.repo.init", "msg": {}}, ("junk", "")),
    ({"topic": "org.fedoraproject.prod.buildsys.repo.init"}, ("junk", "")),  # junk first: never checked
    ({"topic": "buildsys.repo.init", "msg": {}}, ("junk", "")),
    ("a string", ("malformed", "body is not an object")),
    (None, ("malformed", "body is not an object")),
    ({"msg": {}}, ("malformed", "no topic")),
    ({"topic": 5, "msg": {}}, ("malformed", "no topic")),
    ({"topic": "", "msg": {}}, ("malformed", "no topic")),
    ({"topic": "a.b.c", "msg": {}}, ("malformed", "topic has fewer than four parts")),
    ({"topic": "org.fedoraproject.prod." + "x" * 300, "msg": {}}, ("malformed", "topic too long")),
    ({"topic": GOOD}, ("malformed", "no msg")),
]


@pytest.mark.parametrize(("envelope", "expected"), ENVELOPES)
def test_the_edge_reads_each_envelope_as_a_bus_message_or_a_reason_to_drop_it(envelope, expected):
    """Junk topics are dropped as junk, broken envelopes as malformed with a reason; the rest are BusMessages."""
    found = read_envelope(envelope, JUNK)
    if isinstance(expected, str):
        assert isinstance(found, BusMessage) and found.topic == expected and found.source == "fedmsg"
    else:
        assert found == Dropped(*expected)


class CountingMeta:
    """A fedmsg.meta stand-in that counts lookups."""

    def __init__(self):
        self.lookups = 0

    def describe(self, envelope):
        self.lookups += 1
        return {"usernames": {"ralph"}, "packages": set(), "subtitle": "said", "link": "", "icon": "",
                "agent": "ralph"}


def test_junk_never_costs_a_fedmsg_meta_lookup():
    """A junk topic is dropped before fedmsg.meta is asked; a good message is described once."""
    meta = CountingMeta()
    assert read_envelope({"topic": "org.fedoraproject.prod.buildsys.repo.init", "msg": {}}, JUNK, meta).outcome \
        == "junk"
    assert meta.lookups == 0
    assert read_envelope({"topic": GOOD, "msg": {}}, JUNK, meta).usernames == {"ralph"}
    assert meta.lookups == 1


@pytest_twisted.ensureDeferred
async def test_the_edge_counts_what_it_drops_logs_the_malformed_once_and_delivers_the_rest(caplog):
    """Junk is counted, a malformed envelope is counted with one escaped log line, a good one is delivered."""
    delivered, metrics = [], Metrics()
    edge = FedmsgEdge(delivered.append, JUNK, None, metrics)
    with caplog.at_level(logging.WARNING, logger="hubs.bus.fedmsg"):
        await edge.take({"topic": "org.fedoraproject.prod.buildsys.repo.init", "msg": {}})
        await edge.take({"topic": "forged\nline", "msg": {}})
        await edge.take({"topic": GOOD, "msg": {"x": 1}, "msg_id": "m1"})
    count = {o: metrics.messages.labels("fedmsg", o)._value.get() for o in ("junk", "malformed")}
    assert count == {"junk": 1, "malformed": 1}
    assert [m.id for m in delivered] == ["m1"]
    (line,) = [r.getMessage() for r in caplog.records if r.name == "hubs.bus.fedmsg"]
    assert "\n" not in line and "forged\\nline" in line and "topic has fewer than four parts" in line


@pytest_twisted.ensureDeferred
async def test_junk_never_reaches_the_handler(hubs):
    """Through a whole Hubs: junk is counted at the edge and the handler never sees it."""
    await hubs.fedmsg.take({"topic": "org.fedoraproject.prod.buildsys.repo.init", "msg": {}, "msg_id": "j"})
    assert hubs.handler.stats["messages"] == 0
    assert hubs.metrics.messages.labels("fedmsg", "junk")._value.get() == 1
    await hubs.fedmsg.take({"topic": "org.fedoraproject.prod.hubs.dummy.poke", "msg": {}, "msg_id": "p"})
    assert hubs.handler.stats["messages"] == 1


def test_meta_never_raises():
    """fedmsg.meta failures mean no usernames or subtitle, not a dead consumer."""
    from hubs.bus.meta import MessageMeta

    meta = MessageMeta({}, load_processors=False)
    broken = {"topic": "org.fedoraproject.prod.x.y", "msg": None}
    assert meta.usernames(broken) == frozenset() and meta.packages(broken) == frozenset()
    assert meta.subtitle(broken) and meta.link(broken) == "" and meta.icon(broken) == ""
