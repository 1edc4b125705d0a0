"""Activity: what a person, or a team's owners and members, did on the bus lately.

Reads the hub's own message store (no outside service). New messages appear
live; "More" pages back through older ones.
"""

import math

from hubs.widgets.base import Argument, Hints, integer, optional_username
from hubs.widgets.util import message_item, people_of

title = "Activity"
template = "feed.html"
more_template = "feed_items.html"
chrome = True
READS_MESSAGES = True

ARGUMENTS = [
    Argument("username", default="", validator=optional_username, kind="username",
             help="Whose activity. Empty: the person of a personal hub, or the team's owners and members."),
    Argument("rows", default=8, validator=integer(3, 50), kind="integer", help="Messages shown per page."),
]

HINTS = Hints(usernames=lambda widget, ctx: people_of(ctx, widget))


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


async def data(ctx, widget, username, rows):
    people = people_of(ctx, widget)
    messages = await ctx.store.recent_messages(usernames=people, limit=rows + 1)
    return {"items": [message_item(ctx, m) for m in messages[:rows]], "cursor": _cursor(messages, rows),
            "people": people}


async def more(ctx, widget, cursor, username, rows):
    messages = await ctx.store.recent_messages(usernames=people_of(ctx, widget), limit=rows + 1,
                                               before=parse_cursor(cursor))
    return {"items": [message_item(ctx, m) for m in messages[:rows]], "cursor": _cursor(messages, rows)}


def should_invalidate(message, ctx, widget):
    return bool(message.usernames & set(people_of(ctx, widget)))
