"""The request series of ``/metrics`` (``hubs_http_requests``, ``hubs_http_request_seconds``), counted cheaply.

prometheus_client's ``Counter.inc`` and ``Histogram.observe`` take a lock and
walk the buckets per call: ~15 µs of every request on this machine, ~7 % of a warm
widget read. Here a finished request adds one to a dictionary entry and one to a
bucket found by ``bisect``; the series are made from those numbers when
``/metrics`` is collected. Same names, labels, help texts and buckets as before.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence

from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_KNOWN = {m.encode("ascii"): m for m in METHODS}

REQUESTS_HELP = "HTTP requests by route template, method and status"
SECONDS_HELP = "HTTP request duration by route template (streams: until they close)"


def method_label(method: bytes) -> str:
    """A method as a label value: the standard ones, else "other" (labels stay few)."""
    known = _KNOWN.get(method)
    if known is not None:
        return known
    text = method.decode("ascii", "replace").upper()
    return text if text in METHODS else "other"


class RequestSeries:
    """Finished requests by (route template, method, status) and their durations by route, as a collector."""

    def __init__(self, buckets: Sequence[float], registry=None):
        self.buckets = tuple(sorted(float(b) for b in buckets))
        self._counts: dict[tuple[str, str, int], int] = {}
        self._times: dict[str, list[float]] = {}  # route -> [sum, count in each bucket..., count above the last]
        if registry is not None:
            registry.register(self)

    def count(self, route: str, method: bytes, status: int, seconds: float | None = None) -> None:
        key = (route, method_label(method), status)
        self._counts[key] = self._counts.get(key, 0) + 1
        if seconds is not None:
            times = self._times.get(route)
            if times is None:
                times = self._times[route] = [0.0] * (len(self.buckets) + 2)
            times[0] += seconds
            times[1 + bisect_left(self.buckets, seconds)] += 1  # le: a value on a bound counts in that bucket

    def describe(self) -> list[Metric]:
        return [CounterMetricFamily("hubs_http_requests", REQUESTS_HELP, labels=["route", "method", "status"]),
                HistogramMetricFamily("hubs_http_request_seconds", SECONDS_HELP, labels=["route"])]

    def collect(self) -> Iterator[Metric]:
        requests, seconds = self.describe()
        for (route, method, status), n in sorted(self._counts.items()):
            requests.add_metric([route, method, str(status)], n)
        bounds = [floatToGoString(b) for b in self.buckets] + ["+Inf"]
        for route, times in sorted(self._times.items()):
            cumulative, running = [], 0
            for bound, n in zip(bounds, times[1:], strict=True):
                running += int(n)
                cumulative.append((bound, running))
            seconds.add_metric([route], cumulative, sum_value=times[0])
        yield requests
        yield seconds
