"""fedmsg.meta's tracebacks for messages it cannot read become one line per message, once."""

import logging

import fedmsg.config
import pytest

from hubs.bus.message import from_fedmsg
from hubs.bus.meta import MessageMeta


@pytest.fixture(scope="module")
def meta():
    return MessageMeta(fedmsg.config.load_config([], None))


def test_a_message_fedmsg_meta_cannot_read_logs_one_line_once(meta, caplog):
    """A badge award missing its fields: one warning line naming the message, no traceback, not again."""
    broken = {"topic": "org.fedoraproject.prod.fedbadges.badge.award", "msg": {}, "msg_id": "broken-1",
              "timestamp": 1, "i": 1}
    with caplog.at_level(logging.DEBUG, logger="fedmsg"):
        for _ in range(3):  # every feed rebuild would explain it again
            message = from_fedmsg(broken, meta)
    lines = [r for r in caplog.records if r.name.startswith("fedmsg")]
    assert len(lines) == 1 and "broken-1" in lines[0].getMessage() and "Traceback" not in caplog.text
    assert lines[0].levelno == logging.WARNING and message.topic == broken["topic"]


def test_readable_messages_log_nothing(meta, caplog):
    """A well-formed message is explained without a word in the log."""
    ok = {"topic": "org.fedoraproject.prod.fedbadges.badge.award", "msg_id": "fine-1", "timestamp": 1, "i": 1,
          "msg": {"user": {"username": "ralph", "badges_user_id": 1},
                  "badge": {"name": "Origin", "badge_id": "origin", "description": "d", "image_url": "https://x/o.png"}}}
    with caplog.at_level(logging.DEBUG, logger="fedmsg"):
        message = from_fedmsg(ok, meta)
    assert "ralph" in message.usernames and not [r for r in caplog.records if r.levelno >= logging.WARNING]
