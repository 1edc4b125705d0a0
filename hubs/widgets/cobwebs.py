"""Cobwebs: how long since anyone of this hub said anything on the bus."""

import math

from hubs.widgets.base import Argument, integer
from hubs.widgets.util import message_hub, people_hints, people_of

title = "Cobwebs"
template = "cobwebs.html"
chrome = True
READS_MESSAGES = True
REFRESH = 3600

ARGUMENTS = [
    Argument("dusty_after", default=14, validator=integer(1, 365), kind="integer",
             help="Days of silence after which the hub counts as gathering cobwebs."),
]

HINTS = people_hints(topics=frozenset({"hubs.hub.update"}))


def idleness(last, now, dusty_after):
    """(days idle, level) from the last message time (pure)."""
    if last is None:
        return None, "silent"
    days = max(0, math.floor((now - last) / 86400))
    if days < 1:
        level = "busy"
    elif days < dusty_after / 2:
        level = "quiet"
    elif days < dusty_after:
        level = "dusty"
    else:
        level = "cobwebs"
    return days, level


async def data(ctx, widget, dusty_after):
    hub = ctx.hub(widget.hub)
    people = people_of(ctx, widget)
    last = await ctx.store.last_message_time(people)
    days, level = idleness(last, ctx.now(), dusty_after)
    return {"archived": bool(hub and hub.archived), "days": days, "level": level, "last": last,
            "people": len(people)}


def should_invalidate(message, ctx, widget):
    if message.topic.endswith(".hubs.hub.update"):
        return message_hub(message) == widget.hub
    return bool(message.usernames & set(people_of(ctx, widget)))
