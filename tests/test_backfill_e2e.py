"""`make run`'s first start, end to end: a real fedmsg-hub on the demo data without messages, the canned
datagrepper, ``hubs.backfill.at_start``: it serves at once, and the demo hubs' three months of history come
in through the backfill, each message once."""

import json
import time

import psycopg2
import pytest

from hubs.db.migrate import migrate
from hubs.db.populate import load_demo
from tests.conftest import drop_database, fresh_database, services_settings
from tests.hubproc import HubProcess
from tests.waiting import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def no_history_db(pg_admin_dsn, canned_services_process):
    """The demo hubs and people, and no message at all (populate.py --no-messages)."""
    dsn = fresh_database(pg_admin_dsn, "hubs_backfill")
    migrate(dsn)
    load_demo(dsn, fedocal_url=canned_services_process, messages=False)
    yield dsn
    drop_database(pg_admin_dsn, dsn)


def query(dsn, sql):
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def test_a_first_start_fills_the_demo_hubs_with_three_months_through_the_backfill(
        tmp_path, no_history_db, memcached_servers, canned_services_process):
    """The hub is healthy before the history is in; then every demo hub's backfill ends done, the store holds
    about 90 days of the demo people's messages (both eras) once each, and the Activity widget lists them."""
    servers = ",".join(f"{h}:{p}" for h, p in memcached_servers)
    hub = HubProcess(tmp_path, no_history_db, servers, extra={
        **services_settings(canned_services_process), "hubs.backfill.url": canned_services_process,
        "hubs.backfill.at_start": True})
    hub.start()
    try:
        open_hubs = {name for (name,) in query(no_history_db, "SELECT name FROM hubs WHERE NOT archived")}
        wait_for(lambda: {name for (name,) in query(
            no_history_db, "SELECT name FROM backfill_jobs WHERE status = 'done'")} == open_hubs, 180,
                 "every demo hub's backfill done", interval=0.5)
        [(count, distinct, oldest, sources)] = query(no_history_db, (
            "SELECT count(*), count(DISTINCT msg_id), extract(epoch FROM min(ts)), array_agg(DISTINCT source)"
            " FROM messages"))
        assert count == distinct > 1000
        assert time.time() - 91 * 86400 < oldest < time.time() - 88 * 86400
        assert set(sources) == {"fedmsg", "amqp"}
        code, body, _ = hub.get("/designteam/json")
        layout = json.loads(body)
        feed = next(w for column in layout["columns"].values() for w in column if w["plugin"] == "feed")
        code, body, _ = hub.get(f"/designteam/{feed['idx']}/json")
        data = json.loads(body)["data"]
        assert code == 200 and data["items"] and data["loading"] is None
        code, body, _ = hub.get("/healthz")
        assert json.loads(body)["backfills"]["running"] == []
    finally:
        hub.stop()


def test_the_command_line_fills_a_persons_history_and_says_how_far(no_history_db, canned_services_process, tmp_path):
    """`hubs-backfill person NAME --days N` walks the backfill in its own process, printing its progress; an
    unknown hub is refused with a sentence."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "HUBS_SERVICES": canned_services_process, "HUBS_ALLOW_PRIVATE_URLS": "1",
           "PYTHONPATH": str(root)}
    query(no_history_db, "DELETE FROM stream_items WHERE person = 'jflory7' RETURNING 1")  # what the CLI writes
    run = subprocess.run([sys.executable, "-m", "hubs.history.cli", "person", "jflory7", "--days", "5", "--dsn",
                          no_history_db], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "person jflory7: done, 100 %" in run.stdout
    [(count,)] = query(no_history_db, "SELECT count(*) FROM messages WHERE 'jflory7' = ANY(usernames)")
    assert count > 0
    [(status, since)] = query(no_history_db, "SELECT status, since FROM backfill_jobs WHERE name = 'jflory7'")
    assert status == "done" and abs(since - (time.time() - 5 * 86400)) < 600
    # Their stream has their own actions and mentions, read (and their personal hub's feed rows, if they have one).
    entries = query(no_history_db, "SELECT kinds, unread FROM stream_items WHERE person = 'jflory7'")
    assert entries and all(not unread and kinds[0] in ("actor", "mentioned") for kinds, unread in entries)
    run = subprocess.run([sys.executable, "-m", "hubs.history.cli", "hub", "nowhere", "--dsn", no_history_db],
                         cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "there is no hub called 'nowhere'" in run.stderr
