"""Rules: how the team works — its links, its meeting schedule, its owners."""

from hubs.widgets.base import Argument, Hints, boolean, links, text
from hubs.widgets.util import avatar_url, message_hub

title = "Rules"
template = "rules.html"
chrome = True

ARGUMENTS = [
    Argument("links", default=[], validator=links(20), kind="links",
             help="Useful links (mailing list, wiki, tracker…), one per line as: Title | https://…"),
    Argument("schedule", default="", validator=text(500), kind="text",
             help="When and where the team meets, e.g. 'Tuesdays 15:00 UTC in #fedora-design'."),
    Argument("show_owners", default=True, validator=boolean, kind="boolean",
             help="Show the hub's owners with their avatars."),
]

HINTS = Hints(topics=frozenset({"hubs.role.update"}))


async def data(ctx, widget, links, schedule, show_owners):
    owners = []
    if show_owners:
        roles = await ctx.store.hub_roles(widget.hub)
        owners = [{"username": name, "avatar": avatar_url(name, 64)} for name in roles["owner"]]
    return {"links": links, "schedule": schedule, "owners": owners}


def should_invalidate(message, ctx, widget):
    return message_hub(message) == widget.hub
