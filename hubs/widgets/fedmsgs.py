"""Weekly activity: a person's (or a team's) bus messages per day, by category, as a chart."""

import datetime

from hubs.widgets.base import Argument, integer
from hubs.widgets.util import people_hints, people_of, person_argument

title = "This week on the bus"
template = "fedmsgs.html"
chrome = True
READS_MESSAGES = True
REFRESH = 3600  # days roll over even when nobody does anything

ARGUMENTS = [
    person_argument("Whose activity", team=True),
    Argument("days", default=7, validator=integer(7, 28), kind="integer", help="How many days to chart."),
]

HINTS = people_hints()

PALETTE = ["#3c6eb4", "#51a2da", "#79db32", "#e59728", "#db3279", "#a0a0a0"]
WIDTH, HEIGHT, TOP = 560, 120, 10


def chart(days, rows, top=5):
    """Stacked bars: ``days`` (YYYY-MM-DD, oldest first), ``rows`` of (day, category, count) (pure)."""
    totals = {}
    for _, category, count in rows:
        totals[category] = totals.get(category, 0) + count
    named = [c for c, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
    categories = named + (["other"] if len(totals) > len(named) else [])
    colors = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(categories)}
    per_day = {day: {} for day in days}
    for day, category, count in rows:
        if day in per_day:
            key = category if category in named else "other"
            per_day[day][key] = per_day[day].get(key, 0) + count
    peak = max([sum(v.values()) for v in per_day.values()] + [1])
    slot = WIDTH / len(days)
    bars = []
    for i, day in enumerate(days):
        y = HEIGHT
        for category in categories:
            count = per_day[day].get(category, 0)
            if not count:
                continue
            h = round(count / peak * (HEIGHT - TOP), 1)
            y = round(y - h, 1)
            bars.append({"x": round(i * slot + slot * 0.15, 1), "y": y, "w": round(slot * 0.7, 1), "h": h,
                         "color": colors[category], "label": f"{day}: {count} {category}"})
    labels = [{"x": round(i * slot + slot / 2, 1), "text": datetime.date.fromisoformat(d).strftime("%a")}
              for i, d in enumerate(days)]
    legend = [{"name": c, "color": colors[c], "count": sum(per_day[d].get(c, 0) for d in days)} for c in categories]
    return {"bars": bars, "labels": labels, "legend": legend, "total": sum(totals.values()),
            "width": WIDTH, "height": HEIGHT}


async def data(ctx, widget, username, days):
    today = datetime.datetime.fromtimestamp(ctx.now(), datetime.UTC).date()
    day_list = [(today - datetime.timedelta(days=n)).isoformat() for n in range(days - 1, -1, -1)]
    since = datetime.datetime.combine(today - datetime.timedelta(days=days - 1), datetime.time(),
                                      datetime.UTC).timestamp()
    people = people_of(ctx, widget, username)
    rows = await ctx.store.activity_by_day(people, since)
    return {"days": days, **chart(day_list, rows)}


def should_invalidate(message, ctx, widget):
    return bool(message.usernames & set(people_of(ctx, widget)))
