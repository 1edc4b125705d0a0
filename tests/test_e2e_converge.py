"""End to end: a real fedmsg-hub catches up with edits whose bus message never came — another process's commits,
written here straight into PostgreSQL — pushes them to an open stream and counts them in /metrics."""

import json

import psycopg2
import pytest
from psycopg2.extras import Json

from tests.conftest import services_settings
from tests.hubproc import HubProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def hub(tmp_path_factory, demo_db, memcached_servers, canned_services_process):
    """The demo hub comparing its hubs with PostgreSQL every second (the shortest interval allowed)."""
    servers = ",".join(f"{h}:{p}" for h, p in memcached_servers)
    process = HubProcess(tmp_path_factory.mktemp("hub"), demo_db, servers,
                         extra={**services_settings(canned_services_process), "hubs.converge.interval": 1.0})
    process.start()
    yield process
    process.stop()


def commit_elsewhere(dsn: str, sql: str, params: tuple) -> None:
    """What another process's edit leaves in PostgreSQL, with no bus message."""
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
    finally:
        conn.close()


def test_edits_committed_elsewhere_without_a_message_reach_the_stream(hub, demo_db):
    """A widget's new config and a widget added, both committed with no message, are pushed within a round."""
    layout = json.loads(hub.get("/designteam/json")[1])
    sticky = next(w for w in layout["columns"]["left"] if w["plugin"] == "sticky")
    stream = hub.stream("designteam")
    stream.next_event("hello")
    commit_elsewhere(demo_db, "UPDATE widgets SET config = %s, version = version + 1 WHERE id = %s",
                     (Json({"text": "Written **elsewhere**"}), sticky["idx"]))
    payload = json.loads(stream.next_event("widget")["data"])
    assert payload["idx"] == sticky["idx"] and "<strong>elsewhere</strong>" in payload["html"]
    assert json.loads(hub.get(sticky["url"])[1])["data"] == {"text": "Written **elsewhere**"}

    commit_elsewhere(demo_db, "WITH added AS (INSERT INTO widgets (hub, plugin, col, position, config)"
                     " VALUES ('designteam', 'about', 'right', 99, %s) RETURNING hub)"
                     " UPDATE hubs SET version = version + 1 WHERE name IN (SELECT hub FROM added)",
                     (Json({"text": "new"}),))
    event = json.loads(stream.next_event("layout")["data"])
    assert [w["plugin"] for w in event["columns"]["right"]][-1] == "about"
    stream.close()

    metrics = hub.get("/metrics")[1].decode()
    assert "hubs_converged_hubs_total 2.0" in metrics and 'hubs_converge_rounds_total{outcome="failed"} 0.0' in metrics
    assert "converged 1 hubs with the store" in hub.log() and "Traceback" not in hub.log()
