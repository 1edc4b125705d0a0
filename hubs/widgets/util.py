"""Small helpers shared by widgets."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

from hubs.widgets.base import Argument, Hints, optional_username


def avatar_url(username: str, size: int = 64) -> str:
    """Libravatar of a Fedora account (what Fedora's own apps show)."""
    digest = hashlib.sha256(f"{username}@fedoraproject.org".encode()).hexdigest()
    return f"https://seccdn.libravatar.org/avatar/{digest}?" + urlencode({"s": size, "d": "retro"})


def message_hub(message) -> str | None:
    """The hub a hubs.* bus message (a BusMessage) is about, if any."""
    hub = message.body.get("hub")
    return hub if isinstance(hub, str) else None


def message_body(message) -> dict[str, Any]:
    """A BusMessage's body (the fedmsg ``msg`` or the AMQP body)."""
    return message.body if isinstance(message.body, dict) else dict(message.body)


def person_argument(whose: str, team: bool = False) -> Argument:
    """The one ``username`` argument of person widgets ("Whose badges", "Whose activity"...)."""
    empty = "the person of a personal hub, or the team's owners and members" if team else \
        "the person of this personal hub"
    return Argument("username", default="", validator=optional_username, kind="username",
                    help=f"{whose}. Empty: {empty}.")


def person_of(ctx, widget, username: str | None = None) -> str:
    """The person a personal widget is about: its ``username`` argument (validated), else the hub's own person.

    ``data()`` passes the validated argument it was given; hints and ``should_invalidate``, which get
    no arguments, leave it out and the stored value goes through the same validator here.
    """
    if username is None:
        try:
            username = optional_username(widget.config.get("username", ""))
        except ValueError:
            username = ""  # an invalid stored value names nobody (data() shows the validation error)
    if username:
        return username
    hub = ctx.hub(widget.hub)
    return widget.hub if hub is not None and hub.user_hub else ""


def people_of(ctx, widget, username: str | None = None) -> list[str]:
    """Whose activity a widget follows: one person, or a team hub's owners and members."""
    person = person_of(ctx, widget, username)
    return [person] if person else ctx.people(widget.hub, ("owner", "member"))


def person_hints(**hints: Any) -> Hints:
    """Hints of a widget about one person: messages about them (plus any topics or categories given)."""
    return Hints(usernames=lambda widget, ctx: [p for p in [person_of(ctx, widget)] if p], **hints)


def people_hints(**hints: Any) -> Hints:
    """Hints of a widget about a person or a team: messages about any of them."""
    return Hints(usernames=lambda widget, ctx: people_of(ctx, widget), **hints)


def message_item(ctx, stored) -> dict[str, Any]:
    """One stored bus message as a feed entry (human subtitle, link, icon).

    The meaning stored with the message (from fedmsg.meta or the schema class) is used;
    rows stored before it was kept are explained by fedmsg.meta now.
    """
    if stored.summary:
        subtitle, link, icon = stored.summary, stored.link, stored.icon
    elif ctx.meta is not None:
        body = stored.body
        subtitle, link, icon = ctx.meta.subtitle(body), ctx.meta.link(body), ctx.meta.icon(body)
    else:
        subtitle, link, icon = stored.topic, "", ""
    return {
        "subtitle": subtitle,
        "link": link,
        "icon": icon,
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
