"""End to end with Fedora Messaging: a real fedmsg-hub process consuming a real RabbitMQ, beside fedmsg or alone."""

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

import psycopg2
import pytest

from tests.conftest import services_settings
from tests.hubproc import HubProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e


def settings(amqp_url, environment, **extra):
    return {"environment": environment, "hubs.amqp.url": amqp_url,
            "hubs.amqp.bindings": [{"exchange": "amq.topic", "routing_keys": [f"org.fedoraproject.{environment}.#"]}],
            **extra}


def api_publish(amqp_url, environment, builder, message_id=None):
    """Publish a schema message with fedora_messaging.api from another process (as a Fedora service does)."""
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as conf:
        conf.write(f'amqp_url = "{amqp_url}"\ntopic_prefix = "org.fedoraproject.{environment}"\n')
    script = ("import sys\nfrom fedora_messaging import api\nfrom hubs.demo import schema_messages as S\n"
              f"m = {builder}\nm.topic = m.topic.split('.', 3)[3]\n"
              + (f"m.id = {message_id!r}\n" if message_id else "")
              + "api.publish(m)\nprint(m.id)\n")
    try:
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, FEDORA_MESSAGING_CONF=conf.name))
    finally:
        os.unlink(conf.name)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def health(hub):
    return json.loads(hub.get("/healthz")[1])


@pytest.fixture(scope="module")
def both(tmp_path_factory, demo_db, memcached_servers, canned_services_process, amqp_url):
    """A hub hearing fedmsg and Fedora Messaging at once."""
    environment = f"e2e{uuid.uuid4().hex[:8]}"
    servers = ",".join(f"{h}:{p}" for h, p in memcached_servers)
    process = HubProcess(tmp_path_factory.mktemp("amqp"), demo_db, servers,
                         extra={**services_settings(canned_services_process), **settings(amqp_url, environment)})
    process.start()
    wait_for(lambda: health(process).get("amqp", {}).get("consuming"), 20, "the AMQP consumer")
    process.environment = environment
    yield process
    process.stop()


def test_a_schema_message_redraws_the_right_widget(both, amqp_url):
    """A badge award published with fedora_messaging.api redraws ralph's badges widget, and /healthz counts it."""
    layout = json.loads(both.get("/ralph/json")[1])
    badges = next(w for col in layout["columns"].values() for w in col if w["plugin"] == "badges")
    stream = both.stream("ralph")
    stream.next_event("hello")
    api_publish(amqp_url, both.environment, "S.badge_award('ralph', 'Origin')")
    redrawn = set()
    while badges["idx"] not in redrawn:  # the feed and activity widgets about ralph redraw too
        redrawn.add(json.loads(stream.next_event("widget", deadline=20)["data"])["idx"])
    stream.close()
    # /healthz reports the source as its background check last saw it (at most a second ago).
    report = wait_for(lambda: (r := health(both))["amqp"]["messages"] >= 1 and r, 5, "the message counted")
    assert report["amqp"]["ok"]
    assert report["amqp"]["last_message_age"] is not None and "guest:guest" not in report["amqp"]["url"]


def test_a_message_bridged_onto_both_buses_is_handled_and_stored_once(both, amqp_url, demo_db):
    """The same event (same id) arriving over fedmsg and over AMQP is stored once and counted as a duplicate."""
    message_id = f"bridged-{uuid.uuid4()}"
    before = health(both)["bus"]["duplicates"]
    api_publish(amqp_url, both.environment, "S.badge_award('mizmo', 'Bridge')", message_id=message_id)
    wait_for(lambda: stored(demo_db, message_id), 20, "the AMQP copy to be stored")
    envelope = {"topic": f"org.fedoraproject.{both.environment}.badges.badge.award", "msg_id": message_id,
                "timestamp": time.time(), "i": 1, "username": "bridge",
                "msg": {"user": {"username": "mizmo"}, "badge": {"name": "Bridge", "badge_id": "bridge"}}}
    both.publish_raw([[envelope["topic"].encode(), json.dumps(envelope).encode()]])
    wait_for(lambda: health(both)["bus"]["duplicates"] > before, 20, "the fedmsg copy to be recognised")
    assert stored(demo_db, message_id) == 1


def stored(dsn, message_id):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM messages WHERE msg_id = %s", (message_id,))
        return cur.fetchone()[0]


def test_amqp_alone_carries_hubs_own_changes(tmp_path_factory, demo_db, memcached_servers, canned_services_process,
                                              amqp_url):
    """With fedmsg off, an owner's edit goes out on AMQP only, comes back to the hub, and viewers see it."""
    environment = f"e2e{uuid.uuid4().hex[:8]}"
    servers = ",".join(f"{h}:{p}" for h, p in memcached_servers)
    hub = HubProcess(tmp_path_factory.mktemp("amqp-alone"), demo_db, servers,
                     extra={**services_settings(canned_services_process),
                            **settings(amqp_url, environment, **{"hubs.fedmsg.enabled": False})})
    hub.start()
    try:
        wait_for(lambda: health(hub).get("amqp", {}).get("consuming"), 20, "the AMQP consumer")
        before = health(hub)["amqp"]["messages"]
        stream = hub.stream("designteam")
        stream.next_event("hello")
        status, _ = hub.post_json("/designteam/2/config", {"text": "over AMQP only"})
        assert status == 200
        event = stream.next_event("widget", deadline=20)
        assert json.loads(event["data"])["data"]["text"] == "over AMQP only"
        stream.close()
        wait_for(lambda: health(hub)["amqp"]["messages"] > before, 20, "hubs.widget.update back from the broker")
    finally:
        hub.stop()


def test_a_message_the_library_cannot_read_is_counted_and_the_hub_consumes_on(both, amqp_url):
    """A gzip body is dropped with one line, counted in /metrics and /healthz; the next message is taken."""
    import gzip

    from tests.test_amqp_poison import send

    headers = {"fedora_messaging_schema": "base.message", "fedora_messaging_severity": 20}
    before = health(both)["amqp"]
    send(amqp_url, [(f"org.fedoraproject.{both.environment}.test.gzip", {"content_encoding": "gzip",
                                                                        "headers": headers, "message_id": "gz-1"},
                     gzip.compress(b"{}")),
                    (f"org.fedoraproject.{both.environment}.test.after", {"headers": headers}, b"{}")])
    wait_for(lambda: health(both)["amqp"]["taken"] > before["taken"], 20, "the message after the gzip one")
    report = health(both)["amqp"]
    assert report["ok"] and report["consuming"] and report["reason"] == "consuming"
    assert report["dropped"].get("unreadable", 0) == before["dropped"].get("unreadable", 0) + 1
    metrics = both.get("/metrics")[1].decode()
    assert 'hubs_bus_messages_total{outcome="malformed",source="amqp"} 1.0' in metrics
    log = both.log()
    assert "dropping AMQP message 'gz-1'" in log and "halted" not in log and "Traceback" not in log
