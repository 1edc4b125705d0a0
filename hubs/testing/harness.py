"""One way for tests and benchmarks to build a whole Hubs: the way ``hubs.service.build`` does.

Fakes or real adapters, the caller chooses; the wiring is production's.
Seed data goes in through the store's own methods, so one seed serves the fake
and PostgreSQL alike.
"""

from __future__ import annotations

from typing import Any

from hubs.models import Hub
from hubs.service import Hubs, build, make_web
from hubs.web.site import HubsWeb

# The small hub most unit tests use: ids 1-5 on designteam, 6 on ralph's hub.
DESIGNTEAM_LAYOUT = [
    ("left", "about", {"text": "We *design*."}),
    ("left", "sticky", {"text": "Note <script>alert(1)</script>"}),
    ("left", "dummy", {"topic": "hubs.dummy.poke"}),
    ("right", "stats", {}),
    ("right", "rules", {"schedule": "Tuesdays"}),
]


async def seed_small(store: Any) -> None:
    """designteam (owners mizmo and duffy, member ryanlerch, subscriber ralph) and ralph's own hub."""
    for name in ("mizmo", "duffy", "ryanlerch", "ralph"):
        await store.upsert_user(name, "", "")
    await store.create_hub(Hub("designteam", "Design things", 8), DESIGNTEAM_LAYOUT, ["mizmo", "duffy"])
    await store.create_hub(Hub("ralph", "Ralph's hub", 8, user_hub=True), [("left", "about", {})], [])
    await store.set_role("designteam", "ryanlerch", "member", True)
    await store.set_role("designteam", "ralph", "subscriber", True)


async def seed_scale(store: Any, plan: Any) -> None:
    """A scale data set (``hubs.demo.scale.scale_plan``) through the store's own methods (fake or PostgreSQL)."""
    for username, fullname in plan.people.items():
        await store.upsert_user(username, fullname, "")
    for hub in plan.hubs:
        await store.create_hub(Hub(hub["name"], hub["summary"], 8, user_hub=hub["user_hub"]), hub["widgets"], [])
    for hub, username, role in plan.roles:
        await store.set_role(hub, username, role, True)


async def make_hubs(config, store, cache, bus, clock, *, hear_own_messages: bool = True, **parts: Any) -> Hubs:
    """A loaded Hubs; with a FakeBus, its own change messages come back to its handler like on the real bus."""
    hubs = build(config, store, cache, bus, clock, **parts)
    if hear_own_messages and hasattr(bus, "deliver"):
        bus.deliver = hubs.fedmsg.take
    await hubs.directory.load()
    await hubs.keeper.load()
    return hubs


def make_site(hubs: Hubs, oidc: Any = None) -> HubsWeb:
    """The web site over ``hubs`` (``oidc``: a login client, else the one the config asks for)."""
    if oidc is None:
        return make_web(hubs)
    return HubsWeb(hubs, oidc)
