"""Hubs' own change messages as Fedora Messaging schema classes.

Registered under the ``fedora.messages`` entry point (setup.py), so
``fedora-messaging consume`` and any other application that installs Hubs
validates them and reads their summary, people and link. The bodies are the
ones ``hubs.directory.editor.Editor`` publishes; every one names the hub and the
``agent`` who made the change.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fedora_messaging import message

_NAME = {"type": "string", "minLength": 1, "maxLength": 200}
_CONFIG = {"type": "object"}


def _schema(topic: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "id": f"https://github.com/fedora-infra/hubs/message-schemas/v1/{topic}#",
        "$schema": "http://json-schema.org/draft-04/schema#",
        "description": description,
        "type": "object",
        "properties": {"hub": _NAME, "agent": {"type": "string"}, **properties},
        "required": ["hub", "agent", *required],
    }


class HubsApp(message.Message):
    """What every message Hubs publishes has: Hubs' name and icon, and the person who acted."""

    @property
    def app_name(self) -> str:
        return "hubs"

    @property
    def app_icon(self) -> str:
        return "https://apps.fedoraproject.org/img/icons/hubs.png"

    @property
    def agent_name(self) -> str | None:
        return self.body.get("agent") or None

    def __str__(self) -> str:
        return self.summary


class HubsMessage(HubsApp):
    """What every Hubs change message has: a hub and the person who changed it."""

    @property
    def hub(self) -> str:
        return self.body["hub"]

    @property
    def usernames(self) -> list[str]:
        return sorted({n for n in (self.body.get("agent"),) if n})

    @property
    def groups(self) -> list[str]:
        return []

    @property
    def url(self) -> str | None:
        return None

    def _who(self) -> str:
        return self.agent_name or "someone"


class WidgetUpdateV1(HubsMessage):
    """A widget's configuration was changed."""

    topic = "hubs.widget.update"
    body_schema: ClassVar = _schema(topic, "A widget's configuration was changed", {
        "idx": {"type": "integer"}, "plugin": _NAME, "old": _CONFIG, "new": _CONFIG, "version": {"type": "integer"},
    }, ["idx", "plugin", "old", "new"])

    @property
    def summary(self) -> str:
        return f"{self._who()} changed the {self.body['plugin']} widget on the {self.hub} hub"


class WidgetAddV1(HubsMessage):
    """A widget was added to a hub."""

    topic = "hubs.widget.add"
    body_schema: ClassVar = _schema(topic, "A widget was added to a hub", {
        "idx": {"type": "integer"}, "plugin": _NAME,
    }, ["idx", "plugin"])

    @property
    def summary(self) -> str:
        return f"{self._who()} added a {self.body['plugin']} widget to the {self.hub} hub"


class WidgetRemoveV1(HubsMessage):
    """A widget was removed from a hub."""

    topic = "hubs.widget.remove"
    body_schema: ClassVar = _schema(topic, "A widget was removed from a hub", {
        "idx": {"type": "integer"}, "plugin": _NAME,
    }, ["idx", "plugin"])

    @property
    def summary(self) -> str:
        return f"{self._who()} removed the {self.body['plugin']} widget from the {self.hub} hub"


class WidgetMoveV1(HubsMessage):
    """A widget moved within its hub's layout."""

    topic = "hubs.widget.move"
    body_schema: ClassVar = _schema(topic, "A widget moved within its hub's layout", {
        "idx": {"type": "integer"}, "column": {"type": "string", "enum": ["left", "right"]},
        "position": {"type": "integer", "minimum": 0},
    }, ["idx", "column", "position"])

    @property
    def summary(self) -> str:
        return f"{self._who()} moved a widget on the {self.hub} hub"


class HubUpdateV1(HubsMessage):
    """A hub's own settings (summary, widths, avatar, archived...) changed."""

    topic = "hubs.hub.update"
    body_schema: ClassVar = _schema(topic, "A hub's settings changed", {"old": _CONFIG, "new": _CONFIG},
                                    ["old", "new"])

    @property
    def summary(self) -> str:
        return f"{self._who()} changed the settings of the {self.hub} hub"


class HubCreateV1(HubsMessage):
    """A hub was created."""

    topic = "hubs.hub.create"
    body_schema: ClassVar = _schema(topic, "A hub was created", {
        "user_hub": {"type": "boolean"}, "owners": {"type": "array", "items": {"type": "string"}},
    }, ["user_hub", "owners"])

    @property
    def usernames(self) -> list[str]:
        return sorted({n for n in [self.body.get("agent"), *self.body.get("owners", [])] if n})

    @property
    def summary(self) -> str:
        kind = "personal hub" if self.body.get("user_hub") else "hub"
        return f"{self._who()} created the {self.hub} {kind}"


class RoleUpdateV1(HubsMessage):
    """Someone joined or left a hub (owner, member, subscriber, stargazer)."""

    topic = "hubs.role.update"
    body_schema: ClassVar = _schema(topic, "Someone's role on a hub changed", {
        "username": _NAME, "role": {"type": "string", "enum": ["owner", "member", "subscriber", "stargazer"]},
        "action": {"type": "string", "enum": ["add", "remove"]},
    }, ["username", "role", "action"])

    @property
    def usernames(self) -> list[str]:
        return sorted({n for n in (self.body.get("agent"), self.body.get("username")) if n})

    @property
    def summary(self) -> str:
        person = self.body["username"]
        if self.body["action"] == "add":
            return f"{person} is now a {self.body['role']} of the {self.hub} hub"
        return f"{person} is no longer a {self.body['role']} of the {self.hub} hub"


class StreamUpdateV1(HubsApp):
    """A person triaged their stream (read, done, saved, snoozed), a snooze ended, or their follows or mutes
    changed: every Hubs process pushes it to that person's open pages (and re-reads what ``reload`` names).

    It carries item ids and states, never what the items are about, nor what was followed or muted.
    """

    topic = "hubs.stream.update"
    body_schema: ClassVar = {
        "id": f"https://github.com/fedora-infra/hubs/message-schemas/v1/{topic}#",
        "$schema": "http://json-schema.org/draft-04/schema#",
        "description": "A change to a person's stream",
        "type": "object",
        "properties": {
            "person": _NAME, "agent": {"type": "string"}, "boot": {"type": "string", "maxLength": 100},
            "ids": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 1000},
            "set": {"type": "object", "properties": {
                "unread": {"type": "boolean"}, "done": {"type": "boolean"}, "saved": {"type": "boolean"},
                "snoozed_until": {"type": ["number", "null"]}}, "additionalProperties": False},
            "woken": {"type": "boolean"},
            "reload": {"type": "array", "items": {"type": "string", "enum": ["follows", "mutes"]}},
        },
        "required": ["person", "agent"],
    }

    @property
    def usernames(self) -> list[str]:
        return [self.body["person"]]

    @property
    def summary(self) -> str:
        person = self.body["person"]
        if self.body.get("woken"):
            return f"snoozed items came back to {person}'s stream"
        if self.body.get("reload"):
            return f"{person} changed what their stream follows or mutes"
        return f"{person} triaged {len(self.body.get('ids') or ())} items of their stream"


CLASSES: dict[str, type[HubsMessage]] = {
    cls.topic: cls for cls in (WidgetUpdateV1, WidgetAddV1, WidgetRemoveV1, WidgetMoveV1, HubUpdateV1, HubCreateV1,
                               RoleUpdateV1)
}


def schema_class(short_topic: str) -> type[message.Message]:
    """The class for ``hubs.<topic>`` (the base Message for a hubs.* topic Hubs has no schema for)."""
    if short_topic == StreamUpdateV1.topic:
        return StreamUpdateV1
    return CLASSES.get(short_topic, message.Message)
