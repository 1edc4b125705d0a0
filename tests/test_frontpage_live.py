"""The list of hubs on a real fedmsg-hub (PostgreSQL, memcached, fedmsg): a bus message makes hubs active, and
walking ``/api/hubs`` lists every hub once while an admin creates hubs through the API."""

from __future__ import annotations

import json
import re

import pytest

from hubs.demo.messages import pagure_issue_new
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e


def handled(hub) -> float:
    """Bus messages this hub has decided and acted on."""
    metrics = hub.get("/metrics")[1].decode()
    found = re.findall(r'hubs_bus_messages_total\{[^}]*outcome="handled"[^}]*\} ([0-9.e+]+)', metrics)
    return sum(float(n) for n in found)


def page(hub, path: str) -> dict:
    status, body, _ = hub.get(path)
    assert status == 200, body
    return json.loads(body)


def test_a_bus_message_puts_the_hubs_it_touches_first(hub):
    """A Pagure ticket by mizmo touches the Design Team's widgets: before any list was asked for (the first
    snapshot), the Design Team is listed first, as active."""
    before = handled(hub)
    envelope = pagure_issue_new("mizmo", "design", 4242, "Front page order")
    hub.publish_raw([[envelope["topic"].encode(), json.dumps(envelope).encode()]])
    wait_for(lambda: handled(hub) > before, 10, "the hub to handle the message")
    first = page(hub, "/api/hubs")["hubs"]
    active = [h["name"] for h in first if h["reason"] == "active"]
    assert "designteam" in active and [h["reason"] for h in first[:len(active)]] == ["active"] * len(active), first
    rest = [h["name"] for h in first[len(active):] if not h["archived"]]
    assert rest == sorted(rest) and len(first) == len(active) + len(rest) + sum(h["archived"] for h in first)


def test_every_hub_once_while_an_admin_creates_hubs(hub):
    """Two hubs a page; between pages an admin creates a hub near the start of the names and one at the end."""
    existing = {h["name"] for h in page(hub, "/api/hubs?limit=100")["hubs"]}
    names, cursor, n = [], None, 0
    while True:
        answer = page(hub, "/api/hubs?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        names += [h["name"] for h in answer["hubs"]]
        cursor = answer["next"]
        if cursor is None:
            break
        n += 1
        for name in (f"aaa-live-{n}", f"zzz-live-{n}"):
            status, body = hub.post_json("/api/hubs", {"name": name, "summary": "Made while walking"})
            assert status == 201, body
    assert len(names) == len(set(names)), names
    assert existing <= set(names)
    assert f"zzz-live-{n}" in names  # created after the cursor: found on a later page


@pytest.mark.parametrize(("path", "says"), [
    ("/api/hubs?cursor=h1.bm9wZQ", "The cursor is damaged"),
    ("/api/hubs?cursor=x", "not a cursor of the list of hubs"),
    ("/api/hubs?kind=teams", "kind must be 'team' or 'user'"),
])
def test_a_bad_cursor_is_a_400_saying_what_to_do(hub, path, says):
    """Over real HTTP: a clear 400, never a 5xx."""
    status, body, headers = hub.get(path)
    assert status == 400 and says in json.loads(body)["error"], body
