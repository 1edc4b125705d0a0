"""Hubs' own schema classes accept exactly the change messages Hubs publishes."""

import jsonschema
import pytest
import pytest_twisted
from fedora_messaging.message import get_class

from hubs.bus.publish import FakeBus
from hubs.bus.schemas import CLASSES, schema_class
from hubs.dispatch.handler import CHANGE_TOPICS
from hubs.models import Hub, User
from hubs.testing.harness import make_hubs
from hubs.widgets import load_registry


async def _published(config, fake_store, fake_cache, clock):
    """Drive the real Editor through every kind of change and keep what it publishes."""
    fake_store.users["nirik"] = User("nirik", "Kevin Fenzi")  # roles go to people who have logged in
    bus = FakeBus()
    hubs = await make_hubs(config, fake_store, fake_cache, bus, clock)
    editor = hubs.editor
    widget = await editor.add_widget("designteam", "sticky", "left", {"text": "hi"}, "mizmo")
    await editor.update_widget_config("designteam", widget.idx, {"text": "hello"}, "mizmo")
    await editor.move_widget("designteam", widget.idx, "right", 0, "mizmo")
    await editor.remove_widget("designteam", widget.idx, "mizmo")
    await editor.update_hub("designteam", {"summary": "Design!"}, "mizmo")
    await editor.set_role("designteam", "nirik", "member", True, "mizmo")
    await editor.set_role("designteam", "nirik", "member", False, "mizmo")
    await editor.create_hub(Hub("newteam", "New", 8), [("left", "about", {})], ["nirik"], "ralph")
    return bus.sent


def test_every_change_topic_has_a_class():
    """Each topic the handler applies has a registered schema class (entry point ``fedora.messages``)."""
    assert set(CLASSES) == CHANGE_TOPICS
    for topic, cls in CLASSES.items():
        assert get_class(f"{topic}.v1") is cls


@pytest_twisted.ensureDeferred
async def test_the_bodies_hubs_publishes_validate(config, fake_store, fake_cache, clock):
    """Every message the Editor publishes validates against its class, with a readable summary."""
    load_registry()
    published = await _published(config, fake_store, fake_cache, clock)
    short = {e["topic"].split(".", 3)[3] for e in published}
    assert short == CHANGE_TOPICS
    for envelope in published:
        cls = schema_class(envelope["topic"].split(".", 3)[3])
        message = cls(body=envelope["msg"], topic=envelope["topic"])
        message.validate()
        assert message.agent_name in ("mizmo", "ralph")
        assert message.summary and message.summary != envelope["topic"] and "\n" not in message.summary
        assert message.agent_name in message.usernames


# (topic, body that must be refused)
REFUSED = [
    ("hubs.widget.update", {"hub": "x", "agent": "a", "idx": 1, "plugin": "p", "old": {}}),       # no new
    ("hubs.widget.move", {"hub": "x", "agent": "a", "idx": 1, "column": "middle", "position": 0}),
    ("hubs.role.update", {"hub": "x", "agent": "a", "username": "b", "role": "king", "action": "add"}),
    ("hubs.hub.update", {"agent": "a", "old": {}, "new": {}}),                                       # no hub
    ("hubs.widget.add", {"hub": "", "agent": "a", "idx": 1, "plugin": "p"}),
]


@pytest.mark.parametrize(("topic", "body"), REFUSED)
def test_bad_bodies_are_refused(topic, body):
    """A body Hubs would not publish fails validation."""
    with pytest.raises(jsonschema.ValidationError):
        schema_class(topic)(body=body, topic=f"org.fedoraproject.dev.{topic}").validate()
