"""Bus stats of a person: messages they appear in, and how many follow their hub."""

from hubs.widgets.util import NeedsPerson, message_hub, person_argument, person_hints, person_of

title = "On the bus"
template = "fedmsgstats.html"
chrome = False
READS_MESSAGES = True

ARGUMENTS = [
    person_argument("Whose numbers"),
]

HINTS = person_hints(topics=frozenset({"hubs.role.update"}))


async def data(ctx, widget, username):
    person = person_of(ctx, widget, username)
    if not person:
        raise NeedsPerson()
    messages = await ctx.store.message_count(person)
    roles = await ctx.store.hub_roles(person)
    return {"person": person, "messages": messages, "subscribers": len(roles["subscriber"]),
            "stars": len(roles["stargazer"])}


def should_invalidate(message, ctx, widget):
    person = person_of(ctx, widget)
    if message.topic.endswith(".hubs.role.update"):
        return message_hub(message) == person
    return person in message.usernames
