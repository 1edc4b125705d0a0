"""Demo data for people's streams: who is in which group and maintains what, what they follow.

populate.py decides the demo history's stream entries with these (a running Hubs asks FASJSON and dist-git,
the canned ones offline), so that the demo people's streams are full on first open.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hubs.stream.concern import AUDIENCE_ROLES, ConcernIndex
from hubs.stream.memberships import StaticMemberships

GROUPS = {
    "designteam": ["mizmo", "duffy", "ryanlerch", "decause", "jflory7"],
    "sysadmin-main": ["nirik", "ralph", "puiterwijk", "abompard", "threebean", "sayanchowdhury"],
    "python-packagers-sig": ["ralph", "lmacken", "abompard"],
}
GROUP_PACKAGES = {
    "designteam": ["inkscape", "gimp"],
    "python-packagers-sig": ["python-twisted", "python-klein"],
}
PACKAGES = {"ralph": ["fedmsg", "txpostgres"], "nirik": ["ansible"], "lmacken": ["fedmsg"], "mizmo": ["inkscape"]}
FOLLOWS = [("mizmo", "person", "ralph"), ("mizmo", "package", "ansible"), ("ralph", "person", "mizmo"),
           ("ralph", "hub", "designteam"), ("duffy", "package", "python-klein"), ("nirik", "person", "puiterwijk")]


def demo_memberships() -> StaticMemberships:
    users: dict[str, set[str]] = {}
    for group, people in GROUPS.items():
        for person in people:
            users.setdefault(person, set()).add(group)
    return StaticMemberships(groups=users, direct=PACKAGES, group_packages=GROUP_PACKAGES)


def demo_index(hubs: Iterable[Mapping[str, Any]]) -> ConcernIndex:
    """The index over the demo hubs (dicts as populate.py makes them) and follows."""
    index = ConcernIndex(demo_memberships())
    follows: dict[str, list[tuple[str, str]]] = {}
    for person, kind, name in FOLLOWS:
        follows.setdefault(person, []).append((kind, name))
    for person, pairs in follows.items():
        index.set_follows(person, pairs)
    for hub in hubs:
        shows = [hub["name"]] if hub["user_hub"] else [*hub["owners"], *hub["members"]]
        audience = {p for role in AUDIENCE_ROLES for p in hub.get(role + "s", ())}
        index.set_hub(hub["name"], shows, audience | ({hub["name"]} if hub["user_hub"] else set()))
    return index
