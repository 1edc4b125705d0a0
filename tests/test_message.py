"""BusMessage: one value whichever bus a message came from; junk turned into a reason."""

import logging

import fedmsg.config
import pika
import pytest
from fedora_messaging.message import Message

from hubs.bus.message import amqp_problem, envelope_problem, from_amqp, from_fedmsg
from hubs.bus.meta import MessageMeta
from hubs.db.recorder import stored_message
from hubs.demo import messages as M
from hubs.demo import schema_messages as S

META = MessageMeta(fedmsg.config.load_config([], None))

# (fedmsg envelope, usernames, packages, agent, words in the summary, link starts with)
FEDMSG = [
    (M.badge_award("ralph", "Origin"), {"ralph"}, set(), "ralph", "Origin", ""),
    (M.bodhi_comment("mizmo", "ralph", "fedmsg-1-1", "FEDORA-1", "ok"), {"mizmo", "ralph"}, {"fedmsg"}, "mizmo",
     "mizmo", "https://bodhi.fedoraproject.org/updates/FEDORA-1"),
    (M.git_receive("ralph", "fedmsg", "Fix"), {"ralph"}, {"fedmsg"}, "ralph", "Fix", "https://"),
    (M.pagure_issue_new("duffy", "design", 7, "Logo"), {"duffy"}, set(), "duffy", "Logo", "https://pagure.io/"),
    (M.build_state_change("ralph", "fedmsg", "1.0"), {"ralph"}, {"fedmsg"}, "ralph", "fedmsg", "http://koji"),
]


@pytest.mark.parametrize(("envelope", "usernames", "packages", "agent", "words", "link"), FEDMSG,
                         ids=[e["topic"].split(".", 3)[3] for e, *_ in FEDMSG])
def test_from_fedmsg(envelope, usernames, packages, agent, words, link):
    """A fedmsg envelope's meaning comes from fedmsg.meta; id, time and body from the envelope."""
    m = from_fedmsg(envelope, META)
    assert (m.topic, m.id, m.time, m.body, m.source) == (envelope["topic"], envelope["msg_id"],
                                                         envelope["timestamp"], envelope["msg"], "fedmsg")
    assert (m.usernames, m.packages, m.agent) == (usernames, packages, agent)
    assert words in m.summary and "\n" not in m.summary and m.link.startswith(link)
    assert m.icon.startswith("https://")


# (schema message, usernames, packages, agent, words in the summary, link, icon)
AMQP = [
    (S.badge_award("ralph", "Origin"), {"ralph"}, set(), "", "awarded the badge `Origin`", "", "badges.png"),
    (S.bodhi_comment("mizmo", "ralph", "fedmsg-1-1", "FEDORA-1", "ok"), {"mizmo", "ralph"}, {"fedmsg"}, "mizmo",
     "commented on update", "https://bodhi.fedoraproject.org/updates/FEDORA-1", "bodhi.png"),
    (S.pagure_issue("duffy", "design", 7, "Logo"), {"duffy"}, set(), "duffy", "created issue design#7",
     "https://pagure.io/design/issue/7", "pagure.png"),
    (S.koji_build("ralph", "fedmsg", "1.0"), {"ralph"}, {"fedmsg"}, "", "Build COMPLETE", "", "koji.png"),
    (S.meetbot_complete("mizmo", ["duffy"], "#fedora-design", "Design"), {"mizmo", "duffy"}, set(), "mizmo",
     "finished", "https://meetbot.fedoraproject.org/", "meetbot.png"),
    (S.fas_group_sponsor("nirik", "ralph", "sysadmin"), {"nirik", "ralph"}, set(), "nirik", "ralph", "", ""),
    (S.discourse_post("jflory7", "Hello"), {"jflory7"}, set(), "jflory7", "posted in 'Hello'", "", ""),
    (S.hubs_change("hubs.widget.add", {"hub": "designteam", "idx": 3, "plugin": "feed", "agent": "mizmo"}),
     {"mizmo"}, set(), "mizmo", "added a feed widget to the designteam hub", "", "hubs.png"),
]


@pytest.mark.parametrize(("message", "usernames", "packages", "agent", "words", "link", "icon"), AMQP,
                         ids=[m.topic.split(".", 3)[3] for m, *_ in AMQP])
def test_from_amqp(message, usernames, packages, agent, words, link, icon):
    """A Fedora Messaging message's meaning comes from its schema class (the agent counts as a person)."""
    m = from_amqp(message)
    assert (m.topic, m.id, m.body, m.source) == (message.topic, message.id, message.body, "amqp")
    assert m.time > 1.7e9  # from the sent-at header
    assert (m.usernames, m.packages, m.agent) == (usernames, packages, agent)
    assert words in m.summary and m.link.startswith(link) and m.icon.endswith(icon)


class Broken(Message):
    """A schema class with bugs in every property Hubs reads."""

    @property
    def usernames(self):
        raise KeyError("user")

    @property
    def packages(self):
        raise TypeError("nope")

    @property
    def summary(self):
        raise ValueError("bad")

    @property
    def url(self):
        raise KeyError("url")

    def __str__(self):
        raise RuntimeError("no")


def test_a_broken_schema_class_gives_empty_values_and_one_log_line(caplog):
    """Properties that raise give empty values; one line names them all; a repeat logs at debug only."""
    props = pika.BasicProperties(message_id="m-1", headers={"sent-at": "2026-11-28T10:00:00+00:00"})
    message = Broken(body={"x": 1}, topic="org.fedoraproject.prod.thing.happened", properties=props)
    with caplog.at_level(logging.DEBUG, logger="hubs.bus.message"):
        m = from_amqp(message)
        again = from_amqp(message)
    assert (m.usernames, m.packages, m.link, m.summary) == (frozenset(), frozenset(), "", m.topic)
    assert m == again and m.time == 1795860000.0
    records = [r for r in caplog.records if r.name == "hubs.bus.message"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.DEBUG]
    assert "usernames" in records[0].getMessage() and "url" in records[0].getMessage()


def test_summary_is_one_bounded_line():
    """A class whose summary spans lines or runs on is cut to one line of at most 500 characters."""
    body = {"hub": "x" * 150, "agent": "a\nb", "idx": 1, "plugin": "p" * 190}
    m = from_amqp(S.hubs_change("hubs.widget.add", body))
    assert "\n" not in m.summary and len(m.summary) <= 500


# (envelope, reason or None)
ENVELOPES = [
    ({"topic": "org.fedoraproject.prod.a.b", "msg": {}}, None),
    ("not a dict", "body is not an object"),
    ({"msg": {}}, "no topic"),
    ({"topic": "", "msg": {}}, "no topic"),
    ({"topic": 7, "msg": {}}, "no topic"),
    ({"topic": "a." * 200, "msg": {}}, "topic too long"),
    ({"topic": "org.fedoraproject.prod", "msg": {}}, "topic has fewer than four parts"),
    ({"topic": "org.fedoraproject.prod.a.b"}, "no msg"),
]


@pytest.mark.parametrize(("envelope", "reason"), ENVELOPES)
def test_envelope_problem(envelope, reason):
    """Junk fedmsg envelopes are turned into a reason string; good ones into None."""
    assert envelope_problem(envelope) == reason


# (topic, body, id, reason or None)
AMQP_PROBLEMS = [
    ("org.fedoraproject.prod.badges.badge.award", {"a": 1}, "id-1", None),
    ("org.fedoraproject.prod.badges.badge.award", {"a": 1}, None, None),
    ("", {}, "id", "no topic"),
    ("badges.badge.award", {}, "id", "topic has fewer than four parts"),
    ("x." * 200, {}, "id", "topic too long"),
    ("org.fedoraproject.prod.a.b", ["list"], "id", "body is not an object"),
    ("org.fedoraproject.prod.a.b", {}, "i" * 201, "bad message id"),
    ("org.fedoraproject.prod.a.b", {}, 7, "bad message id"),
]


@pytest.mark.parametrize(("topic", "body", "message_id", "reason"), AMQP_PROBLEMS)
def test_amqp_problem(topic, body, message_id, reason):
    """Junk AMQP messages are turned into a reason string; good ones into None."""
    assert amqp_problem(topic, body, message_id) == reason


def test_the_store_keeps_the_meaning_of_amqp_messages():
    """A stored AMQP message keeps its summary, link, icon, agent and source for the feed."""
    m = from_amqp(S.bodhi_comment("mizmo", "ralph", "fedmsg-1-1", "FEDORA-1", "ok"))
    row = stored_message(m, now=m.time + 1)
    assert (row.msg_id, row.category, row.usernames, row.packages) == (m.id, "bodhi", ("mizmo", "ralph"),
                                                                       ("fedmsg",))
    assert (row.summary, row.link, row.icon, row.agent, row.source) == (m.summary, m.link, m.icon, "mizmo", "amqp")
    assert row.body["msg"] == m.body and row.ts == m.time
