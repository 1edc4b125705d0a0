"""Stats: how many people own, belong to, follow and starred the hub."""

from hubs.widgets.base import Argument, Hints, boolean
from hubs.widgets.util import message_hub

title = "Stats"
template = "stats.html"
chrome = False

ARGUMENTS = [
    Argument("show_stargazers", default=True, validator=boolean,
             help="Also show how many people starred the hub.", kind="boolean"),
]

# Published by Hubs whenever someone's role on a hub changes.
HINTS = Hints(topics=frozenset({"hubs.role.update", "hubs.hub.update"}))


async def data(ctx, widget, show_stargazers):
    roles = await ctx.store.hub_roles(widget.hub)
    counts = [
        ("Owners", len(roles["owner"])),
        ("Members", len(roles["member"])),
        ("Subscribers", len(roles["subscriber"])),
    ]
    if show_stargazers:
        counts.append(("Stars", len(roles["stargazer"])))
    return {"counts": [{"label": label, "value": value} for label, value in counts]}


def should_invalidate(message, ctx, widget):
    return message_hub(message) == widget.hub
