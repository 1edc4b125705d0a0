"""End to end: a real fedmsg-hub process with the plugin, real PostgreSQL, memcached and bus."""

import json
import signal

import pytest

from tests.hubproc import HubProcess

pytestmark = pytest.mark.e2e


def test_designteam_page_and_widget_json(hub):
    """The hub serves the Design Team page and each widget's payload over HTTP."""
    status, body, headers = hub.get("/designteam")
    assert status == 200 and b"designteam" in body
    layout = json.loads(hub.get("/designteam/json")[1])
    widgets = layout["columns"]["left"] + layout["columns"]["right"]
    assert {w["plugin"] for w in widgets} == {"about", "sticky", "dummy", "feed", "pagure", "stats", "rules",
                                              "meetings", "cobwebs"}
    for w in widgets:
        status, body, _ = hub.get(w["url"])
        payload = json.loads(body)
        assert status == 200 and payload["idx"] == w["idx"] and "error" not in payload, payload
    stats = next(w for w in widgets if w["plugin"] == "stats")
    payload = json.loads(hub.get(stats["url"])[1])
    assert {c["label"]: c["value"] for c in payload["data"]["counts"]}["Owners"] == 2
    feed = next(w for w in widgets if w["plugin"] == "feed")
    assert json.loads(hub.get(feed["url"])[1])["data"]["items"], "the demo messages feed the activity widget"


def test_personal_hub_widgets_all_load(hub):
    """A personal hub's default widgets, outside services included, all build."""
    layout = json.loads(hub.get("/ralph/json")[1])
    widgets = layout["columns"]["left"] + layout["columns"]["right"]
    assert {"feed", "badges", "updates2stable", "subscriptions", "fedmsgstats", "fedmsgs", "avatar"} <= \
        {w["plugin"] for w in widgets}
    for w in widgets:
        payload = json.loads(hub.get(w["url"])[1])
        assert "error" not in payload, payload


def test_healthz_sees_postgres_memcached_and_bus(hub):
    """healthz reports every dependency reachable."""
    status, body, _ = hub.get("/healthz")
    report = json.loads(body)
    assert status == 200 and report["postgres"]["ok"] and report["memcached"]["ok"] and report["bus"]["ok"]


def test_bus_message_from_another_process_reaches_the_stream(hub):
    """A message published by another process redraws the widget over SSE."""
    layout = json.loads(hub.get("/designteam/json")[1])
    dummy = next(w for w in layout["columns"]["left"] if w["plugin"] == "dummy")
    before = json.loads(hub.get(dummy["url"])[1])
    stream = hub.stream("designteam")
    stream.next_event("hello")
    hub.publish("hubs.dummy.poke", {"why": "test"})
    event = stream.next_event("widget")
    payload = json.loads(event["data"])
    assert payload["idx"] == dummy["idx"] and payload["version"] > before["version"]
    assert event["data"].encode() == hub.get(dummy["url"])[1]
    stream.close()


def test_config_post_reaches_the_stream(hub):
    """An owner's edit goes POST -> PostgreSQL -> bus -> consumer -> stream."""
    layout = json.loads(hub.get("/designteam/json")[1])
    sticky = next(w for w in layout["columns"]["left"] if w["plugin"] == "sticky")
    stream = hub.stream("designteam")
    stream.next_event("hello")
    status, body = hub.post_json(f"/designteam/{sticky['idx']}/config", {"text": "Live **edit**"})
    assert status == 200, body
    payload = json.loads(stream.next_event("widget")["data"])
    assert payload["idx"] == sticky["idx"] and "<strong>edit</strong>" in payload["html"]
    assert json.loads(hub.get(sticky["url"])[1])["data"] == {"text": "Live **edit**"}
    stream.close()


def test_malformed_bus_messages_are_dropped_and_the_hub_lives_on(hub):
    """Garbage on the bus is logged and dropped; the next good message still works."""
    topic = b"org.fedoraproject.dev.hubs.dummy.poke"
    hub.publish_raw([
        [topic, b"{not json"],
        [topic, b'"just a string"'],
        [topic, b'{"topic": 5, "msg": {}}'],
        [topic, json.dumps({"topic": "x", "msg": {}}).encode()],
        [topic, json.dumps({"topic": topic.decode(), "msg": "x" * 300_000}).encode()],
        [topic, b"three", b"parts"],
        [topic, b"\xff\xfe not utf-8"],
        [b"org.fedoraproject.dev.hubs.widget.update", json.dumps(
            {"topic": "org.fedoraproject.dev.hubs.widget.update", "msg": {"idx": "nope"}}).encode()],
    ])
    stream = hub.stream("designteam")
    stream.next_event("hello")
    hub.publish("hubs.dummy.poke", {})
    assert json.loads(stream.next_event("widget")["data"])["plugin"] == "dummy"
    stream.close()
    assert hub.get("/healthz")[0] == 200
    log = hub.log()
    for fragment in ("body is not a JSON object", "no topic", "fewer than four parts", "300", "malformed frame",
                     "names no known hub or widget"):
        assert fragment in log, fragment
    assert "Traceback" not in log


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_the_hub_within_a_second(tmp_path, demo_db, memcached_servers, sig):
    """SIGTERM and Ctrl-C stop an idle hub cleanly in under a second."""
    servers = ",".join(f"{h}:{p}" for h, p in memcached_servers)
    process = HubProcess(tmp_path, demo_db, servers)
    process.start()
    took = process.stop(sig)
    assert process.proc.returncode == 0, process.log()
    assert took < 1.0, f"took {took:.2f}s"
    assert "stopping" in process.log()


def test_broken_config_stops_the_start_with_a_clear_message(tmp_path, demo_db, memcached_servers):
    """A bad Hubs setting makes fedmsg-hub exit naming the key."""
    process = HubProcess(tmp_path, demo_db, "not-a-server", extra={"hubs.web.port": "http"})
    with pytest.raises(RuntimeError) as info:
        process.start(timeout=20)
    assert "hubs.memcached.servers" in str(info.value) and "hubs.web.port" in str(info.value)


def test_unreachable_database_stops_the_start(tmp_path, memcached_servers):
    """If PostgreSQL cannot be reached at start, the hub says so and exits non-zero."""
    servers = ",".join(f"{h}:{p}" for h, p in memcached_servers)
    process = HubProcess(tmp_path, "host=127.0.0.1 port=1 dbname=nope connect_timeout=2", servers)
    with pytest.raises(RuntimeError) as info:
        process.start(timeout=20)
    assert "could not start" in str(info.value) and process.proc.returncode == 1


def test_api_token_cli_and_bearer_auth(hub, demo_db):
    """hubs-token creates a token (stored hashed) that scripts use as that user; revoked, it stops working."""
    import subprocess
    import sys

    run = [sys.executable, "-m", "hubs.people.tokens", "--dsn", demo_db]
    token = subprocess.run(run + ["create", "mizmo", "--name", "e2e"], capture_output=True, text=True,
                           check=True).stdout.strip()
    assert token.startswith("hubs_")
    layout = json.loads(hub.get("/designteam/json")[1])
    sticky = next(w for w in layout["columns"]["left"] if w["plugin"] == "sticky")
    status, body = hub.post_json(f"/designteam/{sticky['idx']}/config", {"text": "By token"}, token=token)
    assert status == 200, body
    listed = subprocess.run(run + ["list", "mizmo"], capture_output=True, text=True, check=True).stdout
    token_id = int(listed.split("\t")[0])
    assert "e2e" in listed and token not in listed
    subprocess.run(run + ["revoke", str(token_id)], check=True)
    status, body = hub.post_json(f"/designteam/{sticky['idx']}/config", {"text": "Again"}, token=token)
    assert status == 401
    status, _ = hub.post_json(f"/designteam/{sticky['idx']}/config", {"text": "x"},
                              token=subprocess.run(run + ["create", "ralph"], capture_output=True, text=True,
                                                   check=True).stdout.strip())
    assert status == 403  # ralph does not own the Design Team hub
    missing = subprocess.run(run + ["create", "ghost"], capture_output=True, text=True)
    assert missing.returncode == 1 and "log in" in missing.stderr


def listening_addresses(port):
    """The local addresses of sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                local, state = line.split()[1], line.split()[3]
                address, _, hexport = local.rpartition(":")
                if state == "0A" and int(hexport, 16) == port:
                    found.append(address)
    return found


def test_the_bus_publisher_binds_only_the_configured_address(hub):
    """fedmsg would listen on every interface; Hubs binds the endpoint's own address (127.0.0.1) only."""
    assert listening_addresses(hub.bus_port) == ["0100007F"]  # 127.0.0.1, and nothing on 0.0.0.0 or ::
