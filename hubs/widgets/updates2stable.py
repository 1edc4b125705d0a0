"""Updates ready for stable: a person's Bodhi updates in testing that may now be pushed."""

from collections.abc import Mapping
from typing import Any

from hubs.widgets.util import NeedsPerson, person_argument, person_hints, person_of

title = "Ready for stable"
template = "updates2stable.html"
chrome = True

ARGUMENTS = [
    person_argument("Whose updates"),
]

# Messages about the person (the submitter of the update a Bodhi message carries is among its usernames),
# and every comment: a fedmsg-era comment carries the update inside the comment, where fedmsg.meta does not
# look, so its usernames name the author and the mentions, not the submitter. Not the whole category: a push
# ends with one message per update, and each would ask every person's widget.
HINTS = person_hints(topics=frozenset({"bodhi.update.comment"}))


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


def _account(person: Any) -> str | None:
    """A Bodhi user as messages name one: ``{"name": ...}``, or a bare name in fedmsg-era bodies (pure)."""
    if isinstance(person, Mapping):
        person = person.get("name")
    return person if isinstance(person, str) and person else None


def update_owners(body: Any) -> frozenset[str] | None:
    """Whose updates a Bodhi message is about: the submitter of the update it carries (pure).

    Today's messages carry the update in ``update`` (``comment.update`` in ``bodhi.update.comment``), its
    submitter in ``user.name``; fedmsg-era bodies sometimes say ``submitter`` (a name or ``{"name": ...}``).
    None when the message carries no update with a submitter (a compose, an override, a shape not known here).
    """
    if not isinstance(body, Mapping):
        return None
    comment = body.get("comment")
    updates = [body.get("update"), comment.get("update") if isinstance(comment, Mapping) else None]
    owners = {_account(u.get("user", u.get("submitter"))) for u in updates if isinstance(u, Mapping)}
    owners.discard(None)
    return frozenset(owners) or None


_last: tuple[Any, frozenset[str] | None] = (None, None)  # (body, its owners): one message asks many widgets


def _owners_of(body: Any) -> frozenset[str] | None:
    """``update_owners``, worked out once per message rather than once per widget asked about it."""
    global _last
    seen, owners = _last
    if seen is not body:
        owners = update_owners(body)
        _last = (body, owners)
    return owners


def should_invalidate(message, ctx, widget):
    """A Bodhi message about the person's own update (its submitter's list may change: karma, a push, an edit).

    A comment that @mentions someone names them (``message.usernames``) but leaves their updates as they were;
    a message that carries no update falls back to the people it names.
    """
    if message.topic.split(".")[3] != "bodhi":
        return False
    owners = _owners_of(message.body)
    return person_of(ctx, widget) in (message.usernames if owners is None else owners)
