"""What `hubs-backfill` writes to people's streams (``hubs.history.cli.stream_rules``, pure)."""

import pytest

from hubs.bus.message import BusMessage
from hubs.history.cli import stream_rules
from hubs.stream.model import Reason


def message(agent: str, *named: str) -> BusMessage:
    return BusMessage(topic="org.fedoraproject.prod.bodhi.update.comment", id="m", time=1.0, agent=agent,
                      usernames=frozenset({agent, *named} - {""}))


@pytest.mark.parametrize("kind, name, user_hub, msg, concerns, hubs", [
    ("person", "ralph", False, message("ralph", "mizmo"), {"ralph": (Reason("actor"),)}, None),
    ("person", "ralph", False, message("adamw", "ralph"), {"ralph": (Reason("mentioned"),)}, None),
    ("person", "ralph", False, message("adamw", "mizmo"), {}, None),
    ("person", "ralph", True, message("adamw", "ralph"), {"ralph": (Reason("mentioned"),)}, ("ralph",)),
    ("person", "ralph", False, message("", "ralph"), {"ralph": (Reason("mentioned"),)}, None),
    ("hub", "designteam", False, message("mizmo"), None, ("designteam",)),
])
def test_stream_rules(kind, name, user_hub, msg, concerns, hubs):
    got_concerns, got_hubs = stream_rules(kind, name, user_hub)
    assert (got_concerns(msg) if got_concerns else None) == concerns
    assert (tuple(got_hubs(msg)) if got_hubs else None) == hubs
