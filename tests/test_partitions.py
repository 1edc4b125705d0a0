"""The message store's months (pure): names, bounds, months created ahead and months retention drops."""

import datetime

import pytest

from hubs.db.partitions import Month, months_ahead, to_drop


def at(day: str) -> float:
    return datetime.datetime.fromisoformat(day).replace(tzinfo=datetime.UTC).timestamp()


@pytest.mark.parametrize("name, month", [
    ("messages_p2026_01", Month(2026, 1)),
    ("messages_p1970_12", Month(1970, 12)),
    ("messages_default", None),
    ("messages_p2026_1x", None),
    ("other_p2026_01", None),
])
def test_a_partition_name_gives_its_month_or_none(name, month):
    """Month partitions are read back from their names; the default partition and other tables are not months."""
    assert Month.named(name) == month
    if month is not None:
        assert month.name == name


@pytest.mark.parametrize("month, plus, expected", [
    (Month(2026, 11), 1, Month(2026, 12)),
    (Month(2026, 12), 1, Month(2027, 1)),
    (Month(2026, 1), -1, Month(2025, 12)),
    (Month(2026, 3), 25, Month(2028, 4)),
])
def test_months_add_across_years(month, plus, expected):
    """Adding months carries into the year, both ways."""
    assert month.plus(plus) == expected


def test_a_month_spans_its_utc_days():
    """A month starts at its first UTC midnight and ends where the next starts."""
    assert Month(2026, 12).start == at("2026-12-01") and Month(2026, 12).end == at("2027-01-01")
    assert Month.of(at("2026-12-31T23:59:59")) == Month(2026, 12)
    assert Month.of(at("2027-01-01")) == Month(2027, 1)


@pytest.mark.parametrize("now, ahead, expected", [
    ("2026-12-15", 2, [Month(2026, 12), Month(2027, 1), Month(2027, 2)]),
    ("2026-12-15", 0, [Month(2026, 12)]),
    ("2026-12-15", -3, [Month(2026, 12)]),
])
def test_months_ahead_are_this_month_and_the_next(now, ahead, expected):
    """Partitions created ahead: this month and the next ``ahead``."""
    assert months_ahead(at(now), ahead) == expected


J, F, M, A = Month(2040, 1), Month(2040, 2), Month(2040, 3), Month(2040, 4)


@pytest.mark.parametrize("existing, older_than, max_rows, now, expected", [
    ([(J, 5), (F, 5), (M, 5)], "2040-03-01", 100, "2040-03-20", [J, F]),  # wholly older months go
    ([(J, 5), (F, 5), (M, 5)], "2040-02-28", 100, "2040-03-20", [J]),  # a month partly kept stays whole
    ([(J, 5), (F, 5), (M, 5)], "2039-01-01", 100, "2040-03-20", []),
    ([(J, 5), (F, 5), (M, 5)], "2039-01-01", 9, "2040-03-20", [J, F]),  # the cap drops the oldest months
    ([(J, 5), (F, 5), (M, 50)], "2039-01-01", 9, "2040-03-20", [J, F]),  # but never the current month
    ([(M, 50), (A, 50)], "2039-01-01", 9, "2040-03-20", []),  # nor a later one
    ([(F, 5), (J, 5)], "2040-02-01", 4, "2040-03-20", [J, F]),  # order of the input does not matter
])
def test_retention_drops_whole_months(existing, older_than, max_rows, now, expected):
    """Retention drops months wholly older than the age limit, then the oldest until under the cap."""
    assert to_drop(existing, at(older_than), max_rows, at(now)) == expected
