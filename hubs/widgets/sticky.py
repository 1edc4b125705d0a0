"""Sticky note: a short markdown note pinned by the hub's owners."""

from hubs.widgets.base import Argument, Hints, text

title = "Sticky note"
template = "sticky.html"
chrome = True

ARGUMENTS = [
    Argument("text", default="Owners can pin a note here.", validator=text(10000, required=True),
             help="The note, in markdown. HTML is sanitised.", kind="textarea"),
]

HINTS = Hints()


def data(ctx, widget, text):
    return {"text": text}


def should_invalidate(message, ctx, widget):
    return False
