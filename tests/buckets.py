"""Two buckets of tests: ``unit`` (no services) and ``integration`` (real services or processes).

``pytest -m unit`` runs in well under a minute on fakes, in-process Twisted and pure
functions: no PostgreSQL, memcached, RabbitMQ, HAProxy, browser, network namespace or
process of ours (hub, canned services, login provider). Everything else is
``integration`` (``e2e`` tests, which start real processes, are a part of it).

A test is put in a bucket when it is collected (``tests/conftest.py``): ``integration``
if it is marked so (or ``e2e``), or if it uses a fixture of ``SERVICE_FIXTURES``, even
through another fixture; ``unit`` otherwise. So a new test lands in the right bucket
by asking for the service it needs. A fixture that picks a service at run time
(``request.getfixturevalue``) marks its parameter:
``params=["fake", pytest.param("postgres", marks=pytest.mark.integration)]``.

Helpers that start a service call ``refuse_in_unit_test``: a test that starts one
without saying so fails with the reason, instead of passing in the wrong bucket.
"""

from __future__ import annotations

import pytest

# Fixtures that reach a real service or start a process (tests/conftest.py and test modules).
SERVICE_FIXTURES = frozenset({
    "pg_admin_dsn", "pg_dsn", "empty_db", "demo_db", "private_postgres",  # PostgreSQL
    "memcached_servers", "memcacheds",  # memcached
    "servers",  # test_cache_breaker.py: two private memcached servers
    "amqp_url", "private_rabbitmq",  # RabbitMQ
    "canned_services_process", "hub", "oidc",  # processes of ours
})

_running: dict[str, object] = {"unit": False, "name": ""}


def bucket(item: pytest.Item) -> str:
    """``integration`` or ``unit`` for a collected test (pure: reads its markers and fixtures)."""
    if item.get_closest_marker("integration") or item.get_closest_marker("e2e"):
        return "integration"
    return "integration" if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())) else "unit"


def entering(item: pytest.Item) -> None:
    _running.update(unit=item.get_closest_marker("unit") is not None, name=item.nodeid)


def leaving() -> None:
    _running.update(unit=False, name="")


def refuse_in_unit_test(what: str) -> None:
    """Fail a ``unit`` test that is about to start or reach ``what`` (it belongs in ``integration``)."""
    if _running["unit"]:
        pytest.fail(f"{_running['name']} is a unit test but reaches {what}: ask for a service fixture "
                    "(tests/buckets.py SERVICE_FIXTURES) or mark it @pytest.mark.integration", pytrace=False)
