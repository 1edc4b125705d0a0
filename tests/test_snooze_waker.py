"""The snooze wake-up turn: a failing store is one log line when it starts and one when it ends, not one a turn."""

import logging

import pytest_twisted

from hubs.db.store import StoreUnavailable
from hubs.stream.upkeep import SnoozeWaker


class Keeper:
    def __init__(self):
        self.outcomes = []
        self.woken = 0

    async def wake(self):
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome
        self.woken += 1


@pytest_twisted.ensureDeferred
async def test_a_store_away_is_logged_once_and_its_return_once(caplog):
    keeper = Keeper()
    keeper.outcomes = [None, StoreUnavailable("PostgreSQL is unreachable; reconnecting"),
                       StoreUnavailable("PostgreSQL is unreachable; reconnecting"), RuntimeError("odd"), None, None,
                       ValueError("bad row")]
    waker = SnoozeWaker(keeper)
    with caplog.at_level(logging.INFO, logger="hubs.stream.upkeep"):
        for _ in range(7):
            await waker()
    lines = [r.getMessage() for r in caplog.records if r.name == "hubs.stream.upkeep"]
    assert lines == ["waking snoozed stream items failed (PostgreSQL is away); trying again every turn",
                     "waking snoozed stream items works again",
                     "waking snoozed stream items failed (bad row); trying again every turn"]
    assert keeper.woken == 3 and not any("unreachable" in line for line in lines)
