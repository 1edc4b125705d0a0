"""What an operator graphs: Prometheus series of one Hubs process (``GET /metrics``).

Each Hubs owns its registry (tests build many). Label values are few by
construction: bus sources, outcomes, widget plugin names, route templates,
methods and status codes — never URLs, people or message ids.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from hubs.metrics_http import RequestSeries

FAST = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
SLOW = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

MESSAGE_OUTCOMES = ("handled", "junk", "malformed", "duplicate", "dropped")


class Metrics:
    """The series; components count into them, ``exposition()`` renders them."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.messages = Counter("hubs_bus_messages", "Bus messages by source and outcome",
                                ["source", "outcome"], registry=r)
        self.decision = Histogram("hubs_decision_seconds", "Time to decide which widgets a message touches",
                                  buckets=FAST, registry=r)
        self.rebuilds = Counter("hubs_rebuilds", "Widget builds by plugin and outcome (ok, failed, stale, "
                                "from_other_process, invalidated: nobody viewed it)", ["plugin", "outcome"], registry=r)
        self.data = Histogram("hubs_data_seconds", "Duration of widgets' data() by plugin and outcome",
                              ["plugin", "outcome"], buckets=SLOW, registry=r)
        self.cache = Counter("hubs_cache_requests", "memcached reads by result (hit, miss, error) and writes "
                             "that failed (error)", ["result"], registry=r)
        self.fanout = Histogram("hubs_fanout_seconds", "Time to send one event to every open stream of a hub",
                                buckets=FAST, registry=r)
        self.open_streams = Gauge("hubs_open_streams", "Open EventSource streams", registry=r)
        self.builds_running = Gauge("hubs_builds_running", "Widget builds running (at most hubs.build.concurrency)",
                                    registry=r)
        self.builds_waiting = Gauge("hubs_builds_waiting", "Widget builds queued for a free slot", registry=r)
        self.resumes = Counter("hubs_stream_resumes", "Streams opened, by how the client was brought up to date "
                               "(none, replay, missed, snapshot)", ["plan"], registry=r)
        self.database_errors = Counter("hubs_database_errors", "Requests or builds that found PostgreSQL "
                                       "unreachable", registry=r)
        self.http = RequestSeries(SLOW, registry=r)  # hubs_http_requests, hubs_http_request_seconds
        self.backfills_running = Gauge("hubs_backfills_running", "Backfills from datagrepper this process walks now",
                                       registry=r)
        self.backfill_messages = Counter("hubs_backfill_messages", "Messages a backfill fetched, by outcome (stored, "
                                         "duplicate: stored already, unreadable)", ["outcome"], registry=r)
        self.backfill_windows = Counter("hubs_backfill_windows", "Time windows a backfill fetched and stored",
                                        registry=r)
        self.backfill_failures = Counter("hubs_backfill_failures", "Backfill windows that failed (then backed off)",
                                         registry=r)
        for outcome in ("stored", "duplicate", "unreadable"):
            self.backfill_messages.labels(outcome)
        self.membership_fetches = Counter("hubs_membership_fetches", "FASJSON and dist-git fetches of who is in "
                                          "which group and who maintains what, by service and outcome (ok, failed)",
                                          ["service", "outcome"], registry=r)
        self.membership_people = Gauge("hubs_membership_people", "People whose groups and packages Hubs holds",
                                       registry=r)
        self.converged = Counter("hubs_converged_hubs", "Hubs re-read because they differed from the store "
                                 "(an edit whose bus message never came)", registry=r)
        self.converge_stale = Gauge("hubs_converge_stale_hubs", "Hubs that differed from the store at the last "
                                    "round (beyond hubs.converge.per_round they wait for the next)", registry=r)
        self.converge_rounds = Counter("hubs_converge_rounds", "Rounds comparing hubs with the store, by outcome "
                                       "(ok, failed: the store was away)", ["outcome"], registry=r)
        self.converge_last_round = Gauge("hubs_converge_last_round_timestamp_seconds", "When the last round that "
                                         "compared every hub with the store ended (Unix time)", registry=r)
        for outcome in ("ok", "failed"):
            self.converge_rounds.labels(outcome)
        for outcome in MESSAGE_OUTCOMES:
            self.messages.labels("fedmsg", outcome)  # present (at 0) before the first message

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
