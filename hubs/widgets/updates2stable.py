"""Updates ready for stable: a person's Bodhi updates in testing that may now be pushed."""

from hubs.widgets.util import NeedsPerson, person_argument, person_hints, person_of

title = "Ready for stable"
template = "updates2stable.html"
chrome = True

ARGUMENTS = [
    person_argument("Whose updates"),
]

HINTS = person_hints(categories=frozenset({"bodhi"}))


def ready(update):
    """May this update be pushed to stable? (pure)"""
    karma, stable = update.get("karma"), update.get("stable_karma")
    if update.get("meets_testing_requirements") is True:
        return True
    return isinstance(karma, int) and isinstance(stable, int) and stable > 0 and karma >= stable


def service(config, arguments):
    """Where ``data()`` fetches from: its builds take turns in this service's lane (``hubs.build.queue``)."""
    return config.bodhi_url


async def data(ctx, widget, username):
    person = person_of(ctx, widget, username)
    if not person:
        raise NeedsPerson()
    base = ctx.config.bodhi_url
    answer = await ctx.http.get_json(f"{base}/updates/", {"user": person, "status": "testing",
                                                           "rows_per_page": "50"})
    updates = answer.get("updates", []) if isinstance(answer, dict) else []
    items = []
    for u in updates:
        if not isinstance(u, dict) or not ready(u):
            continue
        alias = str(u.get("alias") or "")
        release = u.get("release") if isinstance(u.get("release"), dict) else {}
        items.append({"alias": alias, "title": str(u.get("title") or alias), "karma": u.get("karma"),
                      "release": str(release.get("name") or ""), "url": f"{base}/updates/{alias}"})
    return {"person": person, "updates": items, "testing": len(updates)}


def should_invalidate(message, ctx, widget):
    return message.topic.split(".")[3] == "bodhi" and person_of(ctx, widget) in message.usernames
