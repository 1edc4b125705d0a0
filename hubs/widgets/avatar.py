"""Avatar: a person's picture and name."""

from hubs.widgets.base import Hints
from hubs.widgets.util import NeedsPerson, avatar_url, person_argument, person_of

title = "Avatar"
template = "avatar.html"
chrome = False

ARGUMENTS = [
    person_argument("Whose avatar"),
]

HINTS = Hints(topics=frozenset({"hubs.user.update"}))


async def data(ctx, widget, username):
    person = person_of(ctx, widget, username)
    if not person:
        raise NeedsPerson()
    user = await ctx.store.get_user(person)
    return {"username": person, "fullname": user.fullname if user else "", "avatar": avatar_url(person, 160)}


def should_invalidate(message, ctx, widget):
    msg = message.body
    return msg.get("username") == person_of(ctx, widget)
