"""A real hub fetches the groups and packages of the demo people from the canned FASJSON and dist-git at start."""

from __future__ import annotations

import re

import pytest

from tests.waiting import wait_for

pytestmark = pytest.mark.e2e


def series(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus series in a /metrics answer (0 when absent)."""
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:\{{([^}}]*)\}})? (\S+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            return float(match.group(2))
    return 0.0


def test_the_demo_people_memberships_are_fetched_in_the_background(hub):
    """Soon after start, every person of the demo hubs is held, every fetch succeeded, and the site served on."""
    def held():
        text = hub.get("/metrics")[1].decode()
        return text if series(text, "hubs_membership_people") >= 10 else None

    text = wait_for(held, 30, "the demo people's memberships")
    assert series(text, "hubs_membership_fetches_total", service="fasjson", outcome="ok") >= 10
    assert series(text, "hubs_membership_fetches_total", service="distgit", outcome="ok") >= 10
    assert series(text, "hubs_membership_fetches_total", service="fasjson", outcome="failed") == 0
    assert series(text, "hubs_membership_fetches_total", service="distgit", outcome="failed") == 0
    assert hub.get("/designteam")[0] == 200
