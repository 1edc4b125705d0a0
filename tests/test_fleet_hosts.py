"""Many hosts for real: hub processes in separate network namespaces, services reached over their addresses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile

import psycopg2
import pytest

from tests.conftest import IN_CI, need_service
from tests.fleet import HAPROXY, Fleet, Memcached, Namespaces, PrivatePostgres
from tests.hubproc import BlockingStream

pytestmark = pytest.mark.e2e


def _can_use_namespaces() -> str | None:
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    if HAPROXY is None:
        return "haproxy is not installed"
    return None


@pytest.fixture(scope="module")
def hosts():
    """Three "hosts" (namespaces) and the machine's address on their LAN; deleted whatever happens."""
    why = _can_use_namespaces()
    if why:
        if IN_CI:
            pytest.fail(why + " (CI=true: required)", pytrace=False)
        need_service("network namespaces", why)
    with Namespaces(3) as ns:
        yield ns
    assert not set(ns.names) & set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
                                   .split()), "namespaces deleted"


@pytest.fixture(scope="module")
def lan_services(hosts):
    """A private PostgreSQL (demo data) and memcached listening only on the machine's LAN address."""
    from hubs.db.migrate import migrate
    from hubs.db.populate import load_demo

    workdir = tempfile.mkdtemp(prefix="hubs-netns-pg-")
    pg = PrivatePostgres(workdir, hosts.host_address)
    memcached = Memcached(hosts.host_address)
    try:
        pg.start()
        memcached.start()
        admin = psycopg2.connect(pg.admin_dsn)
        admin.autocommit = True
        admin.cursor().execute('CREATE DATABASE "hubs"')
        admin.close()
        dsn = pg.admin_dsn.replace("dbname=postgres", "dbname=hubs")
        migrate(dsn)
        load_demo(dsn, fedocal_url=f"http://{hosts.host_address}:9/")
        yield dsn, memcached.address
    finally:
        memcached.stop() if memcached.proc else None
        pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, hosts, lan_services):
    dsn, memcached = lan_services
    fleet = Fleet(tmp_path_factory.mktemp("netns-fleet"), dsn, memcached, n=3, hosts=hosts.addresses,
                  prefixes=[hosts.exec_prefix(i) for i in range(3)], bus_host=hosts.host_address)
    with fleet:
        yield fleet


def test_edit_and_bus_message_cross_hosts(fleet, lan_services):
    """Processes on three hosts share PostgreSQL, memcached and the bus over LAN addresses, none on 127.0.0.1."""
    dsn, _ = lan_services
    token = subprocess.run([sys.executable, "-m", "hubs.people.tokens", "--dsn", dsn, "create", "mizmo"],
                           capture_output=True, text=True, check=True).stdout.strip()
    one, two, three = fleet.processes
    for p in fleet.processes:
        report = json.loads(p.get("/healthz")[1])
        assert report["postgres"]["ok"] and report["memcached"]["ok"] and report["bus"]["ok"], report
        assert "127.0.0.1" not in (p.workdir / "fedmsg.d" / "test.py").read_text()
    layout = json.loads(one.get("/designteam/json")[1])
    sticky = next(w for w in layout["columns"]["left"] if w["plugin"] == "sticky")
    dummy = next(w for w in layout["columns"]["left"] if w["plugin"] == "dummy")
    streams = [two.stream("designteam"), three.stream("designteam"),
               BlockingStream(fleet.haproxy.port, "/designteam/events")]
    for s in streams:
        s.next_event("hello")
    status, body = one.post_json(f"/designteam/{sticky['idx']}/config", {"text": "Across **hosts**"}, token=token)
    assert status == 200, body
    for s in streams:
        while (payload := json.loads(s.next_event("widget")["data"]))["idx"] != sticky["idx"]:
            pass
        assert "<strong>hosts</strong>" in payload["html"]
    before = sum(json.loads(p.get("/healthz")[1])["builds"]["data_calls"] for p in fleet.processes)
    fleet.publish("hubs.dummy.poke", {"why": "netns"})
    for s in streams:
        while json.loads(s.next_event("widget")["data"])["idx"] != dummy["idx"]:
            pass
        s.close()
    calls = sum(json.loads(p.get("/healthz")[1])["builds"]["data_calls"] for p in fleet.processes) - before
    assert calls == 1, "one data() call across the three hosts"
    for p in fleet.processes:
        assert "Traceback" not in p.log()
