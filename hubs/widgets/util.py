"""Small helpers shared by widgets."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode


def avatar_url(username: str, size: int = 64) -> str:
    """Libravatar of a Fedora account (what Fedora's own apps show)."""
    digest = hashlib.sha256(f"{username}@fedoraproject.org".encode()).hexdigest()
    return f"https://seccdn.libravatar.org/avatar/{digest}?" + urlencode({"s": size, "d": "retro"})


def message_hub(message: dict[str, Any]) -> str | None:
    """The hub a hubs.* bus message is about, if any."""
    msg = message.get("msg") if isinstance(message, dict) else None
    hub = msg.get("hub") if isinstance(msg, dict) else None
    return hub if isinstance(hub, str) else None


def person_of(ctx, widget) -> str:
    """The person a personal widget is about: its ``username`` argument, else the hub's own person."""
    name = widget.config.get("username") or ""
    if name:
        return name
    hub = ctx.hub(widget.hub)
    return widget.hub if hub is not None and hub.user_hub else ""


def people_of(ctx, widget) -> list[str]:
    """Whose activity a widget follows: one person, or a team hub's owners and members."""
    person = person_of(ctx, widget)
    return [person] if person else ctx.people(widget.hub, ("owner", "member"))


def message_item(ctx, stored) -> dict[str, Any]:
    """One stored bus message as a feed entry (human subtitle, link, icon)."""
    body = stored.body
    meta = ctx.meta
    return {
        "subtitle": meta.subtitle(body) if meta is not None else stored.topic,
        "link": meta.link(body) if meta is not None else "",
        "icon": meta.icon(body) if meta is not None else "",
        "ts": stored.ts,
        "category": stored.category,
        "usernames": list(stored.usernames),
    }


class WidgetProblem(ValueError):
    """A problem the widget explains itself; its message is shown in the widget's frame."""


class NeedsPerson(WidgetProblem):
    """A personal widget on a team hub without a ``username``."""

    def __init__(self):
        super().__init__("This widget needs a 'username': this hub is not a person's.")
