"""Meetings: a team's next meetings, from an iCalendar feed (recurrences expanded)."""

import datetime

import icalendar
import recurring_ical_events
from twisted.internet import threads

from hubs.widgets.base import Argument, Hints, integer, optional_url
from hubs.widgets.util import WidgetProblem

title = "Next meetings"
template = "meetings.html"
chrome = True
REFRESH = 1800  # time moves meetings from "next" to "past"

ARGUMENTS = [
    Argument("calendar", default="", validator=optional_url, kind="text",
             help="URL of the team's iCalendar feed (for example its Fedocal calendar)."),
    Argument("count", default=4, validator=integer(1, 20), kind="integer", help="How many meetings to show."),
    Argument("days", default=60, validator=integer(1, 365), kind="integer", help="How far ahead to look."),
]

HINTS = Hints(categories=frozenset({"fedocal"}))


def _epoch(value):
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value.timestamp()
    return datetime.datetime.combine(value, datetime.time(), datetime.UTC).timestamp()


MAX_CALENDAR_BYTES = 2 * 1024 * 1024
MAX_EVENTS = 5000
TOO_FREQUENT = {"SECONDLY", "MINUTELY", "HOURLY"}


def upcoming(text, now, days, count):
    """The next ``count`` occurrences within ``days`` of ``now`` in an iCalendar document (pure).

    Meetings repeat daily at most: events repeating by the hour, minute or
    second (which would take ages to expand) are left out, and so is any
    calendar with more than MAX_EVENTS events.
    """
    calendar = icalendar.Calendar.from_ical(text)
    events = calendar.walk("VEVENT")
    if len(events) > MAX_EVENTS:
        raise WidgetProblem(f"The calendar feed has more than {MAX_EVENTS} events.")
    for event in events:
        rule = event.get("RRULE")
        frequency = (rule.get("FREQ") or [""])[0] if rule is not None else ""
        if str(frequency).upper() in TOO_FREQUENT:
            calendar.subcomponents.remove(event)
    start = datetime.datetime.fromtimestamp(now, datetime.UTC)
    events = recurring_ical_events.of(calendar).between(start, start + datetime.timedelta(days=days))
    meetings = []
    for event in events:
        begin = event.get("DTSTART")
        if begin is None:
            continue
        end = event.get("DTEND")
        all_day = not isinstance(begin.dt, datetime.datetime)
        meetings.append({
            "all_day": all_day,
            "summary": str(event.get("SUMMARY") or "Meeting"),
            "start": _epoch(begin.dt),
            "end": _epoch(end.dt) if end is not None else None,
            "location": str(event.get("LOCATION") or ""),
        })
    meetings.sort(key=lambda m: m["start"])
    return meetings[:count]


def service(config, arguments):
    """Where ``data()`` fetches from: its builds take turns in this service's lane (``hubs.build.queue``)."""
    return arguments.get("calendar") or None


async def data(ctx, widget, calendar, count, days):
    if not calendar:
        return {"configured": False, "meetings": []}
    text = await ctx.http.get_text(calendar, untrusted=True, max_bytes=MAX_CALENDAR_BYTES)
    try:
        # Parsing and expanding recurrences is CPU work: keep it off the reactor thread.
        meetings = await threads.deferToThread(upcoming, text, ctx.now(), days, count)
    except WidgetProblem:
        raise
    except ValueError:
        raise WidgetProblem("The calendar feed could not be read: it is not iCalendar.") from None
    return {"configured": True, "meetings": meetings}


def should_invalidate(message, ctx, widget):
    msg = message.body
    calendar = msg.get("calendar") if isinstance(msg.get("calendar"), dict) else {}
    name = calendar.get("calendar_name")
    url = widget.config.get("calendar") or ""
    return isinstance(name, str) and bool(name) and name in url
