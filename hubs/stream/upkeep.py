"""What a hub process does to keep people's streams current: whose groups and packages it holds (every hub's
people, new ones as hubs change) and the snooze wake-up that runs every turn."""

from __future__ import annotations

import logging
from typing import Any

from hubs.db.store import StoreUnavailable
from hubs.directory.directory import Directory
from hubs.events import HubChanged
from hubs.logsafe import clean
from hubs.models import ROLES
from hubs.stream.memberships import Memberships

log = logging.getLogger(__name__)


def hub_people(directory: Directory, name: str) -> set[str]:
    """Everyone with a role on a hub, and the person a personal hub is for: the people whose groups and
    packages Hubs holds (a first login creates the person's hub)."""
    hub = directory.find_hub(name)
    people = set(directory.people(name, ROLES))
    return people | {name} if hub is not None and hub.user_hub else people


def track_hub_people(directory: Directory, memberships: Memberships, event: HubChanged) -> None:
    """A hub changed: its people are held by the memberships (new ones are fetched at once)."""
    memberships.track(hub_people(directory, event.name))


def tracked_people(directory: Directory, demo: bool) -> set[str]:
    """The people Hubs holds groups and packages for: every hub's (``hub_people``), and the demo people."""
    people = {p for hub in directory.all_hubs() for p in hub_people(directory, hub.name)}
    if demo:
        from hubs.demo.data import USERS

        people |= set(USERS)
    return people


class SnoozeWaker:
    """Snoozed items whose time has come, every turn. A failure is tried again next turn and logged once, and
    once more when waking works again (PostgreSQL away is the pool's news, not a line a second)."""

    def __init__(self, keeper: Any):
        self.keeper = keeper
        self.failing = False

    async def __call__(self) -> None:
        try:
            await self.keeper.wake()
        except Exception as e:
            if not self.failing:
                self.failing = True
                reason = "PostgreSQL is away" if isinstance(e, StoreUnavailable) else clean(e, 200)
                log.warning("waking snoozed stream items failed (%s); trying again every turn", reason)
            return
        if self.failing:
            self.failing = False
            log.info("waking snoozed stream items works again")
