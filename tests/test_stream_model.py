"""The stream's pure rules: reading queries and changes, snooze ends."""

import datetime

import pytest

from hubs.db.stream_sql import not_muted, reason_hubs
from hubs.stream.model import (
    Reason,
    StreamError,
    hub_reasons,
    merge_reasons,
    parse_changes,
    parse_query,
    snooze_until,
)

# Wednesday 2026-12-02 15:00 UTC
NOW = datetime.datetime(2026, 12, 2, 15, 0, tzinfo=datetime.UTC).timestamp()


def utc(*args):
    return datetime.datetime(*args, tzinfo=datetime.UTC).timestamp()


@pytest.mark.parametrize("spec, tz, expected", [
    ("1h", "UTC", NOW + 3600),
    ("tomorrow", "UTC", utc(2026, 12, 3, 9)),
    ("tomorrow", "Europe/Prague", utc(2026, 12, 3, 8)),
    ("tomorrow", "America/New_York", utc(2026, 12, 3, 14)),
    ("tomorrow", "Not/AZone", utc(2026, 12, 3, 9)),
    ("next-week", "UTC", utc(2026, 12, 7, 9)),
    ("2026-12-24", "UTC", utc(2026, 12, 24, 9)),
    ("2026-12-24T18:30:00+01:00", "UTC", utc(2026, 12, 24, 17, 30)),
    ("2026-12-24T18:30", "Europe/Prague", utc(2026, 12, 24, 17, 30)),
])
def test_snooze_until(spec, tz, expected):
    """Snoozes end at the time asked, 09:00 in the person's zone for days."""
    assert snooze_until(spec, NOW, tz) == expected


@pytest.mark.parametrize("spec", ["yesterday", "2026-12-01", "2030-01-01", "", "1h30"])
def test_bad_snoozes(spec):
    """A snooze in the past, too far ahead or unreadable is refused with a reason."""
    with pytest.raises(StreamError):
        snooze_until(spec, NOW)


@pytest.mark.parametrize("args, message", [
    ({"view": "inbox"}, "view must be one of"),
    ({"reason": "boss"}, "reason must be one of"),
    ({"limit": "0"}, "limit must be between"),
    ({"limit": "x"}, "limit must be a whole number"),
    ({"before": "-1"}, "before must be a whole number"),
    ({"colour": "red"}, "Unknown parameter 'colour'"),
    ({"package": 5}, "package must be a string"),
    ({"package": ["a"] * 51}, "at most 50 times"),
    ({"q": "x" * 201}, "at most 200 characters"),
])
def test_bad_queries(args, message):
    """Every bad parameter is a StreamError naming it."""
    with pytest.raises(StreamError, match=message):
        parse_query(args)


def test_query_round_trip():
    """A saved filter's JSON reads back as the same query."""
    query = parse_query({"view": "needs-me", "package": ["a", "b"], "not_service": "koji", "q": "gimp"})
    assert parse_query(query.as_json()) == query
    assert query.include == {"package": ("a", "b")} and query.exclude == {"service": ("koji",)}


@pytest.mark.parametrize("changes", [{}, [], {"unread": "yes"}, {"colour": True}, {"snooze": 5}])
def test_bad_changes(changes):
    """A triage change must name known fields with the right types."""
    with pytest.raises(StreamError):
        parse_changes(changes)


R = Reason
PERSON_HUBS = {"infra": (R("hub", "infra"), R("follow-hub", "infra")), "design": (R("follow-hub", "design"),)}


@pytest.mark.parametrize("shown, expected", [
    (["infra"], (R("hub", "infra"), R("follow-hub", "infra"))),
    (["design", "infra"], (R("follow-hub", "design"), R("hub", "infra"), R("follow-hub", "infra"))),
    (["other"], ()),
    ([], ()),
])
def test_a_hub_items_reasons_are_those_of_the_persons_hubs_that_show_it(shown, expected):
    assert hub_reasons(PERSON_HUBS, shown) == expected


@pytest.mark.parametrize("first, extra, expected", [
    ((R("mentioned"),), (R("hub", "x"),), (R("mentioned"), R("hub", "x"))),
    ((R("hub", "x"),), (R("hub", "x"), R("hub", "x")), (R("hub", "x"),)),
    ((), (R("hub", "x"), R("hub", "x")), (R("hub", "x"),)),
])
def test_own_reasons_come_first_then_the_hubs_missing_ones(first, extra, expected):
    assert merge_reasons(first, extra) == expected


@pytest.mark.parametrize("kinds, expected", [(("follow-hub",), ["design", "infra"]), (("hub",), ["infra"]),
                                             (("mentioned",), [])])
def test_the_hubs_a_reason_filter_reads(kinds, expected):
    assert reason_hubs(PERSON_HUBS, kinds) == expected


@pytest.mark.parametrize("mutes, sql, params", [
    ([], "true", {}),
    ([("package", "gimp"), ("package", "inkscape")], "NOT (hi.packages && %(mute_package)s::text[])",
     {"mute_package": ["gimp", "inkscape"]}),
    ([("topic", "*.git_x%.*"), ("service", "koji")],
     "NOT (hi.category = ANY(%(mute_service)s::text[]) OR hi.topic LIKE ANY(%(mute_topic)s::text[]))",
     {"mute_service": ["koji"], "mute_topic": ["%.git\\_x\\%.%"]}),
])
def test_mutes_become_parameters_of_one_condition(mutes, sql, params):
    """A person's mutes as SQL over a hub row: values are parameters (never in the text), globs as LIKE."""
    got: dict = {}
    assert not_muted(mutes, got) == sql and got == params
