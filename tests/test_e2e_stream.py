"""People's streams on a real fedmsg-hub (real PostgreSQL, memcached, fedmsg): the demo people's streams are
full; a bus message reaches an open stream; a read lowers the count on another open page; a mute hides
future items; a saved filter's URL and its Atom feed show the same items."""

import http.client
import json
import subprocess
import sys
import time
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from hubs.demo.messages import badge_award, bodhi_comment

pytestmark = pytest.mark.e2e


def api_token(dsn: str, username: str) -> str:
    run = subprocess.run([sys.executable, "-m", "hubs.people.tokens", "--dsn", dsn, "create", username,
                          "--name", "stream-e2e"], capture_output=True, text=True, check=True)
    return run.stdout.strip()


@pytest.fixture(scope="module")
def token(demo_db):
    return api_token(demo_db, "mizmo")


def call(hub, method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(hub.url + path, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Events:
    """A blocking reader of a person's /stream/events (with the token)."""

    def __init__(self, hub, token, path="/stream/events"):
        self.conn = http.client.HTTPConnection("127.0.0.1", hub.web_port, timeout=10)
        self.conn.request("GET", path, headers={"Accept": "text/event-stream", "Authorization": f"Bearer {token}"})
        self.response = self.conn.getresponse()
        assert self.response.status == 200

    def next(self, kind, deadline=10.0):
        end = time.monotonic() + deadline
        event, data = {}, []
        while time.monotonic() < end:
            line = self.response.readline().decode().rstrip("\r\n")
            if line == "":
                if data and event.get("event") == kind:
                    return {**event, "data": json.loads("\n".join(data))}
                event, data = {}, []
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    data.append(value)
                elif name in ("event", "id"):
                    event[name] = value
        raise TimeoutError(f"no {kind} event within {deadline} s")

    def close(self):
        self.conn.close()


def test_a_demo_persons_stream_is_full_and_says_why(hub, token):
    """mizmo's stream has items on first open, each with a reason in words; counts come with it."""
    status, body = call(hub, "GET", "/api/stream", token)
    page = json.loads(body)
    assert status == 200 and len(page["items"]) == 50 and page["counts"]["unread"] > 0
    assert all(item["reasons"] and item["reasons"][0]["text"] for item in page["items"])
    kinds = {r["kind"] for item in page["items"] for r in item["reasons"]}
    assert len(kinds) >= 2, kinds
    assert json.loads(call(hub, "GET", "/api/stream?view=needs-me", token)[1])["items"]


def test_a_bus_message_reaches_the_open_stream_and_a_read_lowers_the_count_elsewhere(hub, token):
    """Published by another process: the item arrives live; read through the API, the count drops on another
    open page (counts only)."""
    stream, counts = Events(hub, token), Events(hub, token, "/stream/events?only=counts")
    first = counts.next("stream-count")["data"]
    stream.next("stream-count")
    hub.publish("bodhi.update.comment", bodhi_comment("adamw", "mizmo", "inkscape-1.4-1.fc43", "FEDORA-2026-e2e1",
                                                      "Looks good", ts=time.time())["msg"])
    item = stream.next("stream-item")
    assert item["id"] == str(item["data"]["id"]) and item["data"]["reasons"]
    more = counts.next("stream-count")["data"]
    assert more["unread"] == first["unread"] + 1
    status, body = call(hub, "POST", "/api/stream/items", token, {"ids": [item["data"]["id"]],
                                                                  "set": {"unread": False}})
    assert status == 200 and json.loads(body)["changed"] == 1
    assert counts.next("stream-count")["data"]["unread"] == first["unread"]
    stream.close()
    counts.close()


def test_a_mute_hides_future_items(hub, token):
    """Muted the badges service: a badge naming mizmo makes no item; a message of another service does."""
    status, body = call(hub, "POST", "/api/stream/mutes", token, {"kind": "service", "value": "fedbadges"})
    mute = json.loads(body)
    assert status == 200
    stream = Events(hub, token)
    stream.next("stream-count")
    hub.publish("fedbadges.badge.award", badge_award("mizmo", "Muted badge", ts=time.time())["msg"])
    hub.publish("bodhi.update.comment", bodhi_comment("duffy", "mizmo", "gimp-3.0-1.fc43", "FEDORA-2026-e2e2",
                                                      "Not muted", ts=time.time())["msg"])
    item = stream.next("stream-item")["data"]
    assert item["message"]["category"] == "bodhi"
    page = json.loads(call(hub, "GET", "/api/stream?service=fedbadges&limit=100", token)[1])
    assert not any("Muted badge" in json.dumps(i) for i in page["items"])
    assert call(hub, "DELETE", f"/api/stream/mutes/{mute['id']}", token)[0] == 200
    stream.close()


def test_a_saved_filters_url_and_atom_feed_show_the_same_items(hub, token):
    """The filter's URL (GET /api/stream with its query) and its feed list the same item ids, newest first."""
    status, body = call(hub, "POST", "/api/stream/filters", token,
                        {"name": "Builds and commits", "query": {"service": ["buildsys", "git"]}})
    saved = json.loads(body)
    assert status == 200
    page = json.loads(call(hub, "GET", "/api/stream?" + saved["url"].split("?", 1)[1], token)[1])
    feed = json.loads(call(hub, "POST", f"/api/stream/filters/{saved['id']}/feed", token)[1])
    status, atom, headers = hub.get(feed["url"])
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
    ns = {"a": "http://www.w3.org/2005/Atom"}
    ids = [e.find("a:id", ns).text.rsplit(":", 1)[1] for e in ET.fromstring(atom).findall("a:entry", ns)]
    assert ids and ids == [str(i["id"]) for i in page["items"]]
    assert hub.get(feed["url"].replace(".atom", "x.atom"))[0] == 404
