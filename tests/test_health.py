"""/healthz answers from what it knows: the pure decision (table), the background monitor (a Clock), the route."""

from __future__ import annotations

import json
import logging

import pytest
import pytest_twisted
from treq.testing import StubTreq
from twisted.internet import defer, task

from hubs.build.cache import CacheUnavailable
from hubs.health import DEGRADED, FAILING, OK, CheckResult, HealthMonitor, assess, current_report, monitor_for
from hubs.testing.harness import make_site

UP = {"ok": True}
PENDING = {"ok": None, "waiting_s": 0.5}
PG_DOWN = {"ok": False, "error": "StoreUnavailable"}
MC_UP = {"ok": True, "degraded": False, "servers": {"a:1": None}}
MC_NONE = {"ok": False, "degraded": True, "servers": {"a:1": "not answering (taken off the ring)"}}
MC_ONE_OF_TWO = {"ok": True, "degraded": True, "servers": {"a:1": None, "b:1": "timed out"}}
AMQP_UP = {"ok": True, "connected": True, "consuming": True}
AMQP_NOT_CONSUMING = {"ok": False, "connected": True, "consuming": False}
AMQP_DISCONNECTED = {"ok": False, "connected": False, "consuming": False}
ALL_UP = {"postgres": UP, "memcached": MC_UP, "bus": UP}

# (case, checks, assess keyword arguments, status, code, fragments the reasons contain, in this order)
ASSESS_CASES = [
    ("all answer", ALL_UP, {}, OK, 200, []),
    ("no answer yet, within the deadline", {"postgres": PENDING, "memcached": MC_UP, "bus": UP}, {}, OK, 200, []),
    ("the only memcached down", {**ALL_UP, "memcached": MC_NONE}, {}, DEGRADED, 200,
     ["No memcached server answers (a:1): widgets are served and rebuilt from this process's state"]),
    ("one memcached of two down", {**ALL_UP, "memcached": MC_ONE_OF_TWO}, {}, DEGRADED, 200,
     ["memcached b:1 not answering: its keys go to the other servers"]),
    ("PostgreSQL down", {**ALL_UP, "postgres": PG_DOWN}, {}, DEGRADED, 200,
     ["PostgreSQL does not answer (StoreUnavailable)", "writes answer 503"]),
    ("PostgreSQL unanswered past its deadline", {**ALL_UP, "postgres": {"ok": False, "error": "no answer in 2 s"}},
     {}, DEGRADED, 200, ["PostgreSQL does not answer (no answer in 2 s)"]),
    ("the bus publisher down", {**ALL_UP, "bus": {"ok": False}}, {}, DEGRADED, 200, ["bus publisher is not ready"]),
    ("AMQP connected, consuming", {**ALL_UP, "amqp": AMQP_UP}, {}, OK, 200, []),
    ("AMQP connected, not consuming", {**ALL_UP, "amqp": AMQP_NOT_CONSUMING}, {}, DEGRADED, 200,
     ["Bus source amqp is connected but not consuming"]),
    ("AMQP disconnected", {**ALL_UP, "amqp": AMQP_DISCONNECTED}, {}, DEGRADED, 200,
     ["Bus source amqp is not connected"]),
    ("every shared part down at once", {"postgres": PG_DOWN, "memcached": MC_NONE, "bus": {"ok": False},
                                        "amqp": AMQP_DISCONNECTED}, {}, DEGRADED, 200,
     ["PostgreSQL", "memcached", "bus publisher", "amqp"]),
    ("not started", {}, {"started": False}, FAILING, 503, ["Starting"]),
    ("shutting down", ALL_UP, {"stopping": True}, FAILING, 503, ["Shutting down"]),
    ("shutting down with memcached down", {**ALL_UP, "memcached": MC_NONE}, {"stopping": True}, FAILING, 503,
     ["Shutting down", "memcached"]),
    ("one late round", ALL_UP, {"lateness": [0.0, 0.0, 1.5]}, DEGRADED, 200, ["reactor ran 1.5 s late"]),
    ("a little late", ALL_UP, {"lateness": [0.2, 0.9, 0.5]}, OK, 200, []),
    ("very late once, then on time", ALL_UP, {"lateness": [8.0, 8.0, 0.1]}, OK, 200, []),
    ("very late two rounds of three", ALL_UP, {"lateness": [0.1, 8.0, 8.0]}, DEGRADED, 200, ["8.0 s late"]),
    ("very late three rounds in a row", ALL_UP, {"lateness": [6.0, 7.0, 8.0]}, FAILING, 503,
     ["over 5 s late in each of its last 3 rounds (latest 8.0 s)"]),
    ("very late, but fewer rounds than the window", ALL_UP, {"lateness": [9.0, 9.0]}, DEGRADED, 200, ["9.0 s"]),
    ("checks overdue a little", ALL_UP, {"behind": 3.0}, OK, 200, []),
    ("checks stopped running", ALL_UP, {"behind": 12.0}, FAILING, 503, ["Health checks stopped", "12.0 s overdue"]),
]


@pytest.mark.parametrize(("case", "checks", "kwargs", "status", "code", "fragments"), ASSESS_CASES,
                         ids=[c[0] for c in ASSESS_CASES])
def test_assess_degrades_for_shared_parts_and_fails_only_for_this_process(case, checks, kwargs, status, code,
                                                                          fragments):
    """Shared parts down → degraded (200) with a sentence each; 503 only for this process's own state."""
    verdict = assess(checks, **{"started": True, **kwargs})
    assert (verdict.status, verdict.code) == (status, code), verdict.reasons
    assert bool(verdict.reasons) == bool(fragments), verdict.reasons
    text = " | ".join(verdict.reasons)
    positions = [text.find(fragment) for fragment in fragments]
    assert -1 not in positions and positions == sorted(positions), (fragments, verdict.reasons)


RESULT = CheckResult({"ok": True}, at=100.0, ms=1.5)
# (case, latest result, asked_at, now, expected)
CURRENT_CASES = [
    ("never asked", None, None, 100.0, {"ok": None, "waiting_s": None}),
    ("asked, within the deadline", None, 99.0, 100.0, {"ok": None, "waiting_s": 1.0}),
    ("asked, past the deadline", None, 97.0, 100.0,
     {"ok": False, "error": "no answer in 2 s", "waiting_s": 3.0}),
    ("answered", RESULT, None, 100.5, {"ok": True, "ms": 1.5, "age_s": 0.5}),
    ("answered, asked again, within the deadline", RESULT, 101.0, 102.0, {"ok": True, "ms": 1.5, "age_s": 2.0}),
    ("answered, asked again, past the deadline", RESULT, 101.0, 103.5,
     {"ok": False, "error": "no answer in 2 s", "waiting_s": 2.5}),
]


@pytest.mark.parametrize(("case", "result", "asked_at", "now", "expected"), CURRENT_CASES,
                         ids=[c[0] for c in CURRENT_CASES])
def test_a_check_unanswered_past_its_deadline_counts_as_down(case, result, asked_at, now, expected):
    """A check's current report: its latest answer with its age, or down once a call outlives the deadline."""
    assert current_report(result, asked_at, now, deadline=2.0) == expected


# ---------------------------------------------------------------------------- the monitor, on a Clock


class HungCheck:
    """An async check whose calls answer only when told; records whether anyone cancelled one."""

    def __init__(self):
        self.calls: list[defer.Deferred] = []
        self.cancelled = 0

    def __call__(self) -> defer.Deferred:
        d = defer.Deferred(lambda _: setattr(self, "cancelled", self.cancelled + 1))
        self.calls.append(d)
        return d


def test_checks_run_in_the_background_and_the_report_is_their_last_answer():
    """Every interval on the clock each check runs once; the report gives its answer and age without calling it."""
    clock, calls = task.Clock(), []
    monitor = HealthMonitor(clock, {"bus": lambda: calls.append(clock.seconds()) or {"ok": True}}, interval=1.0)
    monitor.start()
    clock.advance(0.4)
    code, body = monitor.report(clock.seconds())
    assert calls == [0.0] and code == 200 and body["bus"] == {"ok": True, "ms": 0.0, "age_s": 0.4}
    clock.pump([0.6, 1.0, 1.0])
    assert calls == [0.0, 1.0, 2.0, 3.0] and monitor.report(clock.seconds())[1]["bus"]["age_s"] == 0.0


def test_a_hung_check_is_down_after_its_deadline_never_cancelled_nor_asked_twice():
    """An unanswered call: pending, then down past the deadline (degraded, 200); not cancelled; up once answered."""
    clock, postgres = task.Clock(), HungCheck()
    monitor = HealthMonitor(clock, {"postgres": postgres}, interval=1.0, deadline=2.0)
    first = monitor.start()
    assert monitor.report(0.0)[1]["postgres"]["ok"] is None and not first.called
    clock.pump([1.0, 1.0])
    assert first.called, "start() waits for the first round no longer than the deadline"
    assert monitor.report(clock.seconds())[0] == 200
    clock.advance(1.0)
    code, body = monitor.report(clock.seconds())
    assert code == 200 and body["status"] == DEGRADED and body["postgres"]["error"] == "no answer in 2 s"
    assert len(postgres.calls) == 1 and postgres.cancelled == 0
    postgres.calls[0].callback({"ok": True})
    assert monitor.report(clock.seconds())[1]["status"] == OK
    clock.advance(1.0)
    assert len(postgres.calls) == 2, "asked again once it had answered"


def test_a_check_that_raises_is_down_naming_the_error_and_the_loop_goes_on():
    """A check raising (sync or async) is reported down with its error's type; later rounds still run."""
    clock = task.Clock()

    def memcached():
        raise CacheUnavailable("memcached a:1: timed out")

    async def postgres():
        raise ConnectionError("secret dsn detail")

    monitor = HealthMonitor(clock, {"memcached": memcached, "postgres": postgres})
    monitor.start()
    clock.pump([1.0, 1.0])
    body = monitor.report(clock.seconds())[1]
    assert body["memcached"]["error"] == "CacheUnavailable" and body["postgres"]["error"] == "ConnectionError"
    assert "secret" not in json.dumps(body) and monitor.rounds == 3 and body["status"] == DEGRADED


def test_a_reactor_late_round_after_round_fails_and_recovers_on_time():
    """Rounds run 1.5 s late: degraded; over 5 s late three times running: 503; one on-time round: 200 again."""
    clock = task.Clock()
    monitor = HealthMonitor(clock, {"bus": lambda: {"ok": True}}, interval=1.0)
    monitor.start()
    clock.advance(2.5)  # the round due at 1.0 runs at 2.5
    code, body = monitor.report(clock.seconds())
    assert (code, body["status"], body["reactor"]["late_s"]) == (200, DEGRADED, 1.5)
    for _ in range(3):
        clock.advance(7.0)  # each round 6 s late
    code, body = monitor.report(clock.seconds())
    assert code == 503 and body["status"] == FAILING and "too busy" in body["reasons"][0]
    clock.advance(1.0)
    assert monitor.report(clock.seconds())[0] == 200


def test_stopped_monitor_says_shutting_down_and_runs_no_more_rounds():
    """After stop(): 503 "Shutting down", and no check runs again."""
    clock, calls = task.Clock(), []
    monitor = HealthMonitor(clock, {"bus": lambda: calls.append(1) or {"ok": True}})
    monitor.start()
    monitor.stop()
    clock.advance(30)
    code, body = monitor.report(clock.seconds())
    assert calls == [1] and code == 503 and body["reasons"][0].startswith("Shutting down")


def test_the_status_changes_are_logged_once_each(caplog):
    """One log line when the status turns degraded (with the reason) and one when it is ok again."""
    clock, state = task.Clock(), {"ok": True}
    monitor = HealthMonitor(clock, {"bus": lambda: dict(state)})
    with caplog.at_level(logging.WARNING, logger="hubs.health"):
        monitor.start()
        state["ok"] = False
        clock.pump([1.0] * 5)
        state["ok"] = True
        clock.pump([1.0] * 5)
    lines = [r.getMessage() for r in caplog.records if r.name == "hubs.health"]
    assert len(lines) == 2 and lines[0].startswith("health: degraded: The bus publisher") and lines[1] == \
        "health: ok again"


# ---------------------------------------------------------------------------- a whole Hubs on fakes


@pytest.fixture
def monitored(hubs):
    """The Hubs on fakes with its health monitor started on the test's clock (as hubs.service.start does)."""
    hubs.health = monitor_for(hubs)
    pytest_twisted.blockon(hubs.health.start())
    yield hubs
    hubs.health.stop()


async def healthz(hubs):
    response = await StubTreq(make_site(hubs).resource()).get("http://hubs.test/healthz")
    return response.code, json.loads(await response.content())


@pytest_twisted.ensureDeferred
async def test_before_the_monitor_starts_healthz_is_503_starting(hubs):
    """A Hubs whose monitor has not started (directory not loaded by start()) is not ready: 503 "Starting"."""
    code, body = await healthz(hubs)
    assert code == 503 and body["status"] == FAILING and body["reasons"][0].startswith("Starting")


@pytest_twisted.ensureDeferred
async def test_healthz_reports_every_check_and_this_process_figures(monitored):
    """All well: 200 "ok", each check with its age, and the process's own figures (streams, builds, uptime)."""
    code, body = await healthz(monitored)
    assert code == 200 and body["ok"] is True and body["status"] == OK and body["reasons"] == []
    assert body["postgres"]["ok"] and body["memcached"]["servers"] == {"fake": None} and body["bus"]["ok"]
    assert {"streams", "builds", "last_fanout", "uptime_s", "hubs", "widgets", "boot"} <= set(body)
    assert body["bus"]["messages"] == monitored.handler.stats["messages"]


@pytest_twisted.ensureDeferred
async def test_memcached_down_is_degraded_not_503(monitored, fake_cache, clock):
    """No memcached server answers: 200 "degraded" naming memcached (every process would fail alike)."""
    fake_cache.fail = CacheUnavailable("memcached down")
    clock.advance(1.0)
    code, body = await healthz(monitored)
    assert code == 200 and body["ok"] is True and body["status"] == DEGRADED
    assert body["memcached"]["ok"] is False and body["memcached"]["servers"] == {"fake": "memcached down"}
    assert any(r.startswith("No memcached server answers") for r in body["reasons"]), body["reasons"]
    fake_cache.fail = None
    clock.advance(1.0)
    assert (await healthz(monitored))[1]["status"] == OK


@pytest_twisted.ensureDeferred
async def test_one_memcached_of_several_and_the_bus_down_are_degraded(monitored, fake_bus, clock, monkeypatch):
    """One memcached server of two down and the bus publisher down: 200 "degraded", a sentence for each."""
    monkeypatch.setattr(monitored.cache, "ping_each", lambda: {"a:11211": None, "b:11211": "Connection refused"})
    fake_bus.fail = OSError("bus down")
    clock.advance(1.0)
    code, body = await healthz(monitored)
    assert code == 200 and body["ok"] is True and body["status"] == DEGRADED
    assert body["memcached"] == {**body["memcached"], "ok": True, "degraded": True} and body["bus"]["ok"] is False
    assert [r.split(" ")[:2] for r in body["reasons"]] == [["memcached", "b:11211"], ["The", "bus"]]


@pytest_twisted.ensureDeferred
async def test_postgres_down_is_degraded_and_counted(monitored, fake_store, clock):
    """PostgreSQL failing its ping: 200 "degraded" naming it, and one database error counted per round."""
    def errors():
        return monitored.metrics.registry.get_sample_value("hubs_database_errors_total") or 0

    before = errors()
    fake_store.fail = ConnectionError("down")
    clock.advance(1.0)
    code, body = await healthz(monitored)
    assert code == 200 and body["status"] == DEGRADED and body["postgres"]["ok"] is False
    assert body["reasons"][0].startswith("PostgreSQL does not answer")
    assert errors() == before + 1


@pytest_twisted.ensureDeferred
async def test_healthz_never_waits_on_a_hung_database(monitored, fake_store, clock, monkeypatch):
    """A ping that never answers: /healthz answers at once, pending then degraded past the deadline."""
    hung = defer.Deferred()
    monkeypatch.setattr(fake_store, "ping", lambda: hung)
    clock.advance(1.0)
    assert (await healthz(monitored))[1]["status"] == OK  # the last answer stands within the deadline
    clock.pump([1.0, 1.0, 0.5])
    code, body = await healthz(monitored)
    assert code == 200 and body["postgres"]["error"] == "no answer in 2 s" and body["status"] == DEGRADED
    hung.callback(None)


@pytest_twisted.ensureDeferred
async def test_a_bus_source_not_consuming_is_degraded(hubs, clock):
    """An AMQP source connected but not consuming is not ok: 200 "degraded" naming it."""
    class Source:
        def health(self):
            return {"source": "amqp", "connected": True, "consuming": False, "messages": 3}

    hubs.sources["amqp"] = Source()
    hubs.health = monitor_for(hubs)
    await hubs.health.start()
    code, body = await healthz(hubs)
    hubs.health.stop()
    assert code == 200 and body["status"] == DEGRADED and body["amqp"]["ok"] is False
    assert body["amqp"]["messages"] == 3 and "amqp is connected but not consuming" in body["reasons"][0]


@pytest_twisted.ensureDeferred
async def test_an_edit_with_memcached_down_is_saved_and_served(monitored, fake_cache, clock):
    """Edits do not need memcached: with none answering, a config edit is 200 and the widget is rebuilt."""
    fake_cache.fail = CacheUnavailable("memcached down")
    http = StubTreq(make_site(monitored).resource())
    response = await http.post("http://hubs.test/designteam/2/config", data=json.dumps({"text": "Still *here*"}),
                               headers={"Authorization": "Bearer s3cret-token-for-tests",
                                        "Content-Type": "application/json"})
    assert response.code == 200, await response.content()
    payload = json.loads(await monitored.states.payload("designteam", 2))
    assert payload["data"] == {"text": "Still *here*"} and "<em>here</em>" in payload["html"]
