"""Dummy: a coloured box that shows when it was built; handy for trying the push path.

Give it a ``topic`` and it redraws whenever a message with that short topic
(e.g. ``hubs.dummy.poke``) goes over the bus.
"""

import time

from hubs.widgets.base import Argument, Hints, text

title = "Dummy"
template = "dummy.html"
chrome = True

COLORS = ("grey", "blue", "green", "orange", "purple")


def _color(value):
    if value not in COLORS:
        raise ValueError("must be one of " + ", ".join(COLORS))
    return value


def _topic(value):
    value = text(200)(value)
    if value and (value.count(".") < 1 or " " in value):
        raise ValueError("must be a short topic such as 'hubs.dummy.poke', or empty")
    return value


ARGUMENTS = [
    Argument("text", default="Hello from a dummy widget.", validator=text(500),
             help="Text shown in the box."),
    Argument("color", default="blue", validator=_color, help="Colour of the box.", kind="choice", choices=COLORS),
    Argument("topic", default="", validator=_topic,
             help="Short topic that redraws this widget (empty: none)."),
]

HINTS = Hints(widget_topics=lambda widget: [widget.config["topic"]] if widget.config.get("topic") else [])


def data(ctx, widget, text, color, topic):
    return {"text": text, "color": color, "topic": topic, "built_at": round(time.time(), 3)}


def should_invalidate(message, ctx, widget):
    topic = widget.config.get("topic")
    return bool(topic) and message.topic.endswith("." + topic)
