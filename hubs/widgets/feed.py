"""Activity: what a person, or a team's owners and members, did on the bus lately.

Reads the hub's own message store (no outside service). New messages appear
live; "More" pages back through older ones. While the hub's past is being
fetched from datagrepper (a backfill), it says how far that has got. A search
box finds older messages of the same people (``GET /api/search`` with the
widget's ``person``, or its ``hub`` whose owners and members it shows).
"""

import math

from hubs.widgets.base import Argument, integer
from hubs.widgets.util import message_item, people_hints, people_of, person_argument, person_of

title = "Activity"
template = "feed.html"
more_template = "feed_items.html"
chrome = True
READS_MESSAGES = True

ARGUMENTS = [
    person_argument("Whose activity", team=True),
    Argument("rows", default=8, validator=integer(3, 50), kind="integer", help="Messages shown per page."),
]

HINTS = people_hints()


def _cursor(messages, rows):
    if len(messages) <= rows:
        return None
    last = messages[rows - 1]
    return f"{last.ts!r}:{last.id}"


def parse_cursor(cursor):
    try:
        ts, _, idx = str(cursor).partition(":")
        ts, idx = float(ts), int(idx)
    except ValueError:
        raise ValueError("bad cursor") from None
    if not math.isfinite(ts) or not 0 <= ts < 1e11 or idx < 0:
        raise ValueError("bad cursor")
    return ts, idx


def search_scope(widget, person):
    """Whose messages the widget's search box asks /api/search for (pure): the one person it shows, else its hub's
    owners and members (``hub=``, which /api/search reads as those people); ``idx`` names the box's elements."""
    return {"idx": widget.idx, "person": person or None, "hub": None if person else widget.hub}


async def data(ctx, widget, username, rows):
    people = people_of(ctx, widget, username)
    messages = await ctx.store.recent_messages(usernames=people, limit=rows + 1)
    return {"items": [message_item(ctx, m) for m in messages[:rows]], "cursor": _cursor(messages, rows),
            "people": people, "loading": ctx.history(widget.hub),
            "search": search_scope(widget, person_of(ctx, widget, username))}


async def more(ctx, widget, cursor, username, rows):
    messages = await ctx.store.recent_messages(usernames=people_of(ctx, widget, username), limit=rows + 1,
                                               before=parse_cursor(cursor))
    return {"items": [message_item(ctx, m) for m in messages[:rows]], "cursor": _cursor(messages, rows)}


def should_invalidate(message, ctx, widget):
    return bool(message.usernames & set(people_of(ctx, widget)))
