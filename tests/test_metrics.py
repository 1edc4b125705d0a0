"""GET /metrics: Prometheus series an operator can graph, with few label values."""

import pytest_twisted
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer, reactor
from twisted.web.client import readBody

from hubs.testing.harness import make_site
from hubs.web.server import make_site as make_server_site


def samples(text):
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


class Viewer:
    """An open stream that keeps nothing."""

    def send(self, frame, chunk):
        pass


async def fetch(port, method, path, headers=None):
    from twisted.web.client import Agent
    from twisted.web.http_headers import Headers

    agent = Agent(reactor)
    response = await agent.request(method, f"http://127.0.0.1:{port}{path}".encode(),
                                   Headers({k: [v] for k, v in (headers or {}).items()}))
    return response.code, await readBody(response)


@pytest_twisted.ensureDeferred
async def test_metrics_count_messages_builds_cache_and_requests_by_template(hubs):
    """Messages by outcome, data() by plugin, cache hits, and HTTP requests by route template are exposed."""
    site = make_server_site(make_site(hubs).resource(), metrics=hubs.metrics)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    try:
        number = port.getHost().port
        for path in ("/designteam/1/json", "/designteam/2/json", "/designteam/2/json", "/no/such/thing/here"):
            await fetch(number, b"GET", path)
        await hubs.fedmsg.take({"topic": "org.fedoraproject.prod.hubs.dummy.poke", "msg": {}, "msg_id": "m0",
                                   "timestamp": 1})  # nobody views designteam: invalidated
        hubs.streams.add("designteam", Viewer())
        await hubs.fedmsg.take({"topic": "org.fedoraproject.prod.hubs.dummy.poke", "msg": {}, "msg_id": "m",
                                   "timestamp": 1})  # now rebuilt
        await hubs.fedmsg.take({"topic": "org.fedoraproject.prod.buildsys.repo.init", "msg": {}, "msg_id": "j",
                                   "timestamp": 1})
        code, body = await fetch(number, b"GET", "/metrics")
    finally:
        await defer.maybeDeferred(port.stopListening)
    assert code == 200
    found = samples(body.decode())
    assert found[("hubs_bus_messages_total", (("outcome", "handled"), ("source", "fedmsg")))] == 2
    assert found[("hubs_bus_messages_total", (("outcome", "junk"), ("source", "fedmsg")))] == 1
    assert found[("hubs_bus_messages_total", (("outcome", "malformed"), ("source", "fedmsg")))] == 0
    assert found[("hubs_rebuilds_total", (("outcome", "ok"), ("plugin", "dummy")))] >= 1
    assert found[("hubs_rebuilds_total", (("outcome", "invalidated"), ("plugin", "dummy")))] == 1
    assert found[("hubs_builds_running", ())] == 0 and found[("hubs_builds_waiting", ())] == 0
    assert found[("hubs_data_seconds_count", (("outcome", "ok"), ("plugin", "sticky")))] == 1
    assert found[("hubs_http_requests_total", (("method", "GET"), ("route", "/<hub>/<int:idx>/json"),
                                               ("status", "200")))] == 3
    assert found[("hubs_http_requests_total", (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1
    assert found[("hubs_decision_seconds_count", ())] == 2  # junk is dropped at the fedmsg edge, undecided
    assert ("hubs_open_streams", ()) in found and ("hubs_cache_requests_total", (("result", "miss"),)) in found
    routes = {dict(labels).get("route") for (name, labels) in found if name == "hubs_http_requests_total"}
    assert not any(r and ("designteam" in r or "thing" in r) for r in routes)  # templates, never raw URLs


@pytest_twisted.ensureDeferred
async def test_stream_resumes_are_counted_by_plan(hubs):
    """Each stream opened is counted by how it was brought up to date."""
    hubs.streams.plan("designteam", None)
    hubs.streams.plan("designteam", "elsewhere-3-v5")
    hubs.streams.plan("designteam", "garbage")
    found = samples(hubs.metrics.exposition().decode())
    assert [found[("hubs_stream_resumes_total", (("plan", k),))] for k in ("none", "missed", "snapshot")] == [1, 1, 1]


def test_the_grafana_dashboard_graphs_only_series_that_exist(hubs):
    """Every hubs_ series the dashboard in docs/ queries is one /metrics exposes (and it shows them all)."""
    import json
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).parent.parent / "docs" / "grafana-hubs.json").read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"hubs_[a-z_]+", target["expr"])}
    families = {f.name for f in hubs.metrics.registry.collect()}
    series = {f + suffix for f in families for suffix in ("", "_total", "_bucket", "_count", "_sum")}
    assert queried <= series, queried - series
    assert all(any(q.startswith(f) for q in queried) for f in families), families
