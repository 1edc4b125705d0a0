"""The hubs a person owns, belongs to, follows and starred."""

from hubs.widgets.base import Hints
from hubs.widgets.util import NeedsPerson, person_argument, person_of

title = "Hubs"
template = "subscriptions.html"
chrome = True

ARGUMENTS = [
    person_argument("Whose hubs"),
]

HINTS = Hints(topics=frozenset({"hubs.role.update"}))


async def data(ctx, widget, username):
    person = person_of(ctx, widget, username)
    if not person:
        raise NeedsPerson()
    roles = await ctx.store.user_roles(person)
    groups = [("Owns", [h for h in roles["owner"] if h != person]), ("Member of", roles["member"]),
              ("Subscribed to", roles["subscriber"]), ("Starred", roles["stargazer"])]
    return {"person": person, "groups": [{"label": label, "hubs": hubs} for label, hubs in groups]}


def should_invalidate(message, ctx, widget):
    msg = message.body
    return msg.get("username") == person_of(ctx, widget)
