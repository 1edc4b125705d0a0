"""The test kit itself: which bucket a test falls in (tests/buckets.py) and the polling helpers (tests/waiting.py)."""

from __future__ import annotations

import pytest

from tests.buckets import SERVICE_FIXTURES, bucket
from tests.waiting import holds_for, wait_for


class Collected:
    """What ``bucket`` reads of a collected test: its markers and the fixtures it uses (directly or not)."""

    def __init__(self, markers=(), fixtures=()):
        self.markers, self.fixturenames = set(markers), list(fixtures)

    def get_closest_marker(self, name):
        return name if name in self.markers else None


@pytest.mark.parametrize(("markers", "fixtures", "expected"), [
    ((), (), "unit"),
    ((), ("clock", "fake_store", "hubs", "tmp_path"), "unit"),
    ((), ("canned_services", "port"), "unit"),  # in-process servers on loopback are not services
    ((), ("pg_dsn",), "integration"),
    ((), ("clock", "demo_db", "canned_services_process"), "integration"),  # through another fixture
    ((), ("memcached_servers",), "integration"),
    ((), ("amqp_url",), "integration"),
    ((), ("hub",), "integration"),
    (("e2e",), (), "integration"),
    (("integration",), ("clock",), "integration"),
])
def test_a_test_is_integration_when_it_says_so_or_uses_a_service_and_unit_otherwise(markers, fixtures, expected):
    """Markers e2e/integration or any service fixture make it integration; everything else is unit."""
    assert bucket(Collected(markers, fixtures)) == expected


def test_every_service_fixture_of_conftest_is_listed():
    """The fixtures conftest.py offers for real services are all in SERVICE_FIXTURES."""
    assert {"pg_admin_dsn", "pg_dsn", "empty_db", "demo_db", "private_postgres", "memcached_servers", "amqp_url",
            "private_rabbitmq", "canned_services_process", "hub"} <= SERVICE_FIXTURES


def test_wait_for_returns_the_first_truthy_answer():
    """The predicate's first truthy value comes back; it is not called again after that."""
    answers = iter([None, 0, "", "ready", "again"])
    calls = []
    assert wait_for(lambda: calls.append(1) or next(answers), 5, "ready", interval=0) == "ready"
    assert len(calls) == 4


def test_wait_for_names_what_it_waited_for_when_time_runs_out():
    """A timeout raises TimeoutError naming what did not happen, after calling the predicate at least once."""
    calls = []
    with pytest.raises(TimeoutError, match=r"^the balancer: not within 0 s$"):
        wait_for(lambda: calls.append(1), 0, "the balancer")
    assert calls


def test_holds_for_fails_as_soon_as_the_check_stops_holding():
    """A check that turns false fails the window, naming it."""
    answers = iter([True, True, False, True])
    with pytest.raises(AssertionError, match="pages served: stopped holding after 2 checks"):
        holds_for(lambda: next(answers), 5, "pages served", interval=0)
