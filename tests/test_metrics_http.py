"""The request series (hubs/metrics_http.py) expose what prometheus_client's Counter and Histogram did."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from hubs.metrics import SLOW, Metrics
from hubs.metrics_http import REQUESTS_HELP, SECONDS_HELP, RequestSeries, method_label

JSON, PAGE, REFUSED = "/<hub>/<int:idx>/json", "/<hub>", "refused by the server"

# (route, method, status, seconds): bounds exactly, between them, above the last, none (a refusal)
REQUESTS = [
    (JSON, b"GET", 200, 0.0004), (JSON, b"GET", 200, 0.001), (JSON, b"GET", 200, 0.0010001),
    (JSON, b"GET", 404, 0.3), (JSON, b"HEAD", 200, 31.0), (PAGE, b"GET", 200, 30.0),
    (PAGE, b"BREW", 405, 0.002), (PAGE, b"brew", 405, 0.002), (PAGE, b"get", 200, 0.0),
    (PAGE, b"\xff", 400, 5.0), (REFUSED, b"POST", 413, None), (REFUSED, b"", 408, None),
]


def exposed(registry) -> dict:
    """Every sample but the creation times (the old series had them; nothing graphs them)."""
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            if not s.name.endswith("_created"):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def prometheus_client_way(requests) -> CollectorRegistry:
    """How the series were counted before: prometheus_client's own Counter and Histogram."""
    r = CollectorRegistry()
    counter = Counter("hubs_http_requests", REQUESTS_HELP, ["route", "method", "status"], registry=r)
    histogram = Histogram("hubs_http_request_seconds", SECONDS_HELP, ["route"], buckets=SLOW, registry=r)
    for route, method, status, seconds in requests:
        counter.labels(route, method_label(method), str(status)).inc()
        if seconds is not None:
            histogram.labels(route).observe(seconds)
    return r


@pytest.mark.parametrize("upto", [0, 1, 4, len(REQUESTS)])
def test_the_same_samples_as_prometheus_client_counted(upto):
    r = CollectorRegistry()
    series = RequestSeries(SLOW, registry=r)
    for request in REQUESTS[:upto]:
        series.count(*request)
    assert exposed(r) == exposed(prometheus_client_way(REQUESTS[:upto]))


@pytest.mark.parametrize(("method", "label"), [
    (b"GET", "GET"), (b"get", "GET"), (b"OPTIONS", "OPTIONS"), (b"BREW", "other"), (b"\xff", "other"), (b"", "other"),
])
def test_method_labels_are_few(method, label):
    assert method_label(method) == label


def test_the_help_and_types_on_metrics_are_the_same():
    text = Metrics().exposition().decode()
    assert f"# HELP hubs_http_requests_total {REQUESTS_HELP}" in text
    assert "# TYPE hubs_http_requests_total counter" in text
    assert "# TYPE hubs_http_request_seconds histogram" in text


def test_many_made_up_methods_are_one_label():
    series = RequestSeries(SLOW)
    for i in range(1000):
        series.count(PAGE, b"M%d" % i, 405)
    assert len(series._counts) == 1
