"""Badges: a person's latest Fedora Badges (from the Badges service)."""

from urllib.parse import quote

from hubs.widgets.base import Argument, integer
from hubs.widgets.util import NeedsPerson, person_argument, person_hints, person_of

title = "Badges"
template = "badges.html"
chrome = True

ARGUMENTS = [
    person_argument("Whose badges"),
    Argument("count", default=12, validator=integer(3, 48), kind="integer", help="How many badges to show."),
]

# Awards arrive as "fedbadges.badge.award" (fedmsg era) and "badges.badge.award" (Fedora Messaging, tahrir).
AWARD_TOPICS = frozenset({"fedbadges.badge.award", "badges.badge.award"})

HINTS = person_hints(categories=frozenset({"fedbadges", "badges"}))


def _epoch(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def service(config, arguments):
    """Where ``data()`` fetches from: its builds take turns in this service's lane (``hubs.build.queue``)."""
    return config.badges_url


async def data(ctx, widget, username, count):
    person = person_of(ctx, widget, username)
    if not person:
        raise NeedsPerson()
    base = ctx.config.badges_url
    answer = await ctx.http.get_json(f"{base}/user/{quote(person)}/json")
    assertions = answer.get("assertions", []) if isinstance(answer, dict) else []
    badges = []
    for a in assertions:
        if not isinstance(a, dict) or not isinstance(a.get("name"), str):
            continue
        image = a.get("image") if isinstance(a.get("image"), str) else ""
        badges.append({"name": a["name"], "description": str(a.get("description") or ""),
                       "image": image if image.startswith(("http://", "https://")) else "",
                       "issued": _epoch(a.get("issued")), "id": str(a.get("id") or "")})
    badges.sort(key=lambda b: b["issued"], reverse=True)
    return {"person": person, "badges": badges[:count], "total": len(badges),
            "profile": f"{base}/user/{quote(person)}"}


def should_invalidate(message, ctx, widget):
    return message.topic.split(".", 3)[-1] in AWARD_TOPICS and person_of(ctx, widget) in message.usernames
