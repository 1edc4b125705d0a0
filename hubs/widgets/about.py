"""About: a few paragraphs of text describing the hub (markdown)."""

from hubs.widgets.base import Argument, Hints, text

title = "About"
template = "about.html"
chrome = True

ARGUMENTS = [
    Argument("text", default="Nobody has described this hub yet.", validator=text(5000, required=True),
             help="What this hub is about. Markdown: links, lists, emphasis.", kind="textarea"),
]

# Only an edit of its own config changes it; the engine handles that for every widget.
HINTS = Hints()


def data(ctx, widget, text):
    return {"text": text}


def should_invalidate(message, ctx, widget):
    return False
