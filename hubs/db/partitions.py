"""The message store's months (pure): which partitions to create ahead and which retention drops.

A partition holds one calendar month (UTC) of messages, ``messages_pYYYY_MM``; messages outside
every month created wait in ``messages_default`` (moved into their month when it is created).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

DEFAULT = "messages_default"


@dataclass(frozen=True, order=True)
class Month:
    """One calendar month (UTC)."""

    year: int
    month: int

    @classmethod
    def of(cls, ts: float) -> Month:
        day = datetime.datetime.fromtimestamp(ts, datetime.UTC)
        return cls(day.year, day.month)

    @classmethod
    def named(cls, name: str) -> Month | None:
        """The month of a partition's name, or None (the default partition, another table)."""
        if not name.startswith("messages_p") or len(name) != len("messages_pYYYY_MM"):
            return None
        try:
            return cls(int(name[10:14]), int(name[15:17]))
        except ValueError:
            return None

    def plus(self, months: int) -> Month:
        n = self.year * 12 + self.month - 1 + months
        return Month(n // 12, n % 12 + 1)

    @property
    def name(self) -> str:
        return f"messages_p{self.year:04d}_{self.month:02d}"

    @property
    def start(self) -> float:
        return datetime.datetime(self.year, self.month, 1, tzinfo=datetime.UTC).timestamp()

    @property
    def end(self) -> float:
        return self.plus(1).start

    @property
    def first_day(self) -> str:
        return f"{self.year:04d}-{self.month:02d}-01"


def months_ahead(now: float, ahead: int) -> list[Month]:
    """This month and the next ``ahead`` ones: the partitions that must exist before messages arrive."""
    this = Month.of(now)
    return [this.plus(i) for i in range(max(0, ahead) + 1)]


def to_drop(existing: list[tuple[Month, int]], older_than: float, max_rows: int, now: float) -> list[Month]:
    """Months retention drops, oldest first: every month wholly older than ``older_than``, then the oldest
    others while the store holds more than ``max_rows`` — never the current month or a later one.

    ``existing``: (month, rows) of every month partition (rows may be an estimate).
    """
    months = sorted(existing)
    drop = [m for m, _ in months if m.end <= older_than]
    total = sum(rows for m, rows in months if m not in drop)
    this = Month.of(now)
    for month, rows in months:
        if total <= max_rows or month >= this:
            break
        if month not in drop:
            drop.append(month)
            total -= rows
    return drop
