"""Is this process fit to serve? What ``/healthz`` answers, from checks that run in the background.

A balancer takes a process out when its check is not 200 (and HAProxy cuts its
streams). A part that every process shares — PostgreSQL, memcached, a bus — fails
for all of them at once; failing the check for it would take the whole fleet out
while each process still serves its pages and streams from its own state (one
frozen memcached did exactly that). So a shared part that is down makes the
answer ``"degraded"`` (200) with a sentence saying what is affected; only what is
wrong with *this* process is a 503: not started, shutting down, a reactor badly
late round after round, or health checks that stopped running.

The checks (PostgreSQL ping, each memcached server, the bus publisher, each bus
source's ``health()``) run every ``interval`` seconds on the injected clock
(``HealthMonitor``); ``/healthz`` answers at once from their last results, with
their age, and never waits on any of them. A check that has not answered within
``deadline`` counts as down; it is never cancelled (cancelling a txpostgres query
blocks the reactor), and it is not asked again until it has answered.

``assess`` is the decision: a pure function of the checks' reports, table-tested.
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet import defer

from hubs.build.cache import CacheCalls

if TYPE_CHECKING:
    from hubs.service import Hubs

log = logging.getLogger(__name__)

INTERVAL = 1.0  # seconds between rounds of checks
DEADLINE = 2.0  # a check unanswered this long counts as down (it is not cancelled)
LAG_WARN = 1.0  # a round this late (s): degraded, "events are late"
MAX_LAG = 5.0  # every one of the last LAG_ROUNDS rounds this late (s): this process is too busy to serve (503)
LAG_ROUNDS = 3
STALLED = 10.0  # the rounds have stopped (a round overdue by this much, s): this process is broken (503)

OK, DEGRADED, FAILING = "ok", "degraded", "failing"


@dataclass(frozen=True)
class Verdict:
    """What ``/healthz`` says: a status, its HTTP code, and one sentence per thing that is not right."""

    status: str
    code: int
    reasons: tuple[str, ...] = ()


def _names(servers: Mapping[str, Any]) -> str:
    return ", ".join(sorted(servers))


def check_reason(name: str, report: Mapping[str, Any]) -> str | None:
    """The sentence for one check that is not ok, saying what still works (None: nothing to say). Pure."""
    ok = report.get("ok")
    if ok is None:
        return None  # asked, not answered yet, not past its deadline: nothing known against it
    error = report.get("error")
    why = f" ({error})" if error else ""
    if name == "postgres":
        if not ok:
            return (f"PostgreSQL does not answer{why}: pages and streams are served from this process's state; "
                    "writes answer 503 until it is back.")
        return None
    if name == "memcached":
        servers = report.get("servers") or {}
        down = {n: e for n, e in servers.items() if e is not None}
        if not ok:
            detail = why or (f" ({_names(down)})" if down else "")
            return (f"No memcached server answers{detail}: widgets are served and rebuilt from this process's "
                    "state, each process building for itself.")
        if down:
            return f"memcached {_names(down)} not answering: its keys go to the other servers."
        return None
    if name == "bus":
        if not ok:
            return ("The bus publisher is not ready: edits are saved and shown by this process; other processes "
                    "hear of them when it is back.")
        return None
    if not ok:
        if report.get("connected") is False:
            return f"Bus source {name} is not connected: no messages from it until it reconnects (retried)."
        if report.get("consuming") is False:
            return f"Bus source {name} is connected but not consuming: no messages from it."
        return f"{name} is not ok{why}."
    return None


def assess(checks: Mapping[str, Mapping[str, Any]], *, started: bool, stopping: bool = False,
           lateness: Sequence[float] = (), behind: float = 0.0, lag_warn: float = LAG_WARN,
           max_lag: float = MAX_LAG, lag_rounds: int = LAG_ROUNDS, stalled: float = STALLED) -> Verdict:
    """Checks and this process's own state → status, HTTP code and reasons. Pure.

    ``checks``: each check's current report (``ok`` True, False, or None while unanswered);
    ``lateness``: how late the latest rounds ran, oldest first (s); ``behind``: how overdue
    the next round is now (s). Shared parts that are down degrade (200); 503 is kept for
    this process: not started, stopping, late by over ``max_lag`` on each of the last
    ``lag_rounds`` rounds, or rounds overdue by over ``stalled``.
    """
    failing: list[str] = []
    if stopping:
        failing.append("Shutting down: this process is closing its connections.")
    elif not started:
        failing.append("Starting: the directory is not loaded and no health check has run yet.")
    else:
        if behind > stalled:
            failing.append(f"Health checks stopped: the last round is {behind:.1f} s overdue.")
        recent = list(lateness)[-lag_rounds:]
        if lag_rounds > 0 and len(recent) == lag_rounds and min(recent) > max_lag:
            failing.append(f"This process's reactor ran over {max_lag:g} s late in each of its last {lag_rounds} "
                           f"rounds (latest {recent[-1]:.1f} s): too busy to serve its viewers.")
    degraded = [reason for name, report in checks.items() if (reason := check_reason(name, report))]
    if not failing and lateness and lateness[-1] > lag_warn:
        degraded.append(f"The reactor ran {lateness[-1]:.1f} s late in the latest round: events reach viewers "
                        "late by as much.")
    if failing:
        return Verdict(FAILING, 503, tuple(failing + degraded))
    if degraded:
        return Verdict(DEGRADED, 200, tuple(degraded))
    return Verdict(OK, 200)


@dataclass(frozen=True)
class CheckResult:
    """A check's latest answer: its report, when it was taken and how long the check took."""

    report: Mapping[str, Any]
    at: float
    ms: float


def current_report(result: CheckResult | None, asked_at: float | None, now: float,
                   deadline: float = DEADLINE) -> dict[str, Any]:
    """What a check says at ``now``: its latest answer with its age, or down if a call is past its deadline. Pure.

    ``asked_at``: when the call still waiting for an answer was made (None: none waiting).
    """
    if asked_at is not None and now - asked_at > deadline:
        base = dict(result.report) if result is not None else {}
        return {**base, "ok": False, "error": f"no answer in {deadline:g} s", "waiting_s": round(now - asked_at, 1)}
    if result is None:
        return {"ok": None, "waiting_s": round(now - asked_at, 1) if asked_at is not None else None}
    return {**result.report, "ms": round(result.ms, 2), "age_s": round(now - result.at, 1)}


def failure_report(error: BaseException) -> dict[str, Any]:
    """A check that raised: down, naming the kind of error (no message: /healthz is public)."""
    return {"ok": False, "error": type(error).__name__}


Check = Callable[[], Any]  # returns a report dict, or an awaitable of one; raising means down


class HealthMonitor:
    """Runs the checks every ``interval`` s on ``clock`` and keeps their latest answers for ``/healthz``.

    A check is a callable returning a report (``{"ok": bool, ...}``) or an awaitable of one.
    An awaitable still unanswered at the next round is not asked again (nothing piles up,
    nothing is cancelled); past ``deadline`` it counts as down until it answers.
    """

    def __init__(self, clock: Any, checks: Mapping[str, Check], *, interval: float = INTERVAL,
                 deadline: float = DEADLINE, lag_warn: float = LAG_WARN, max_lag: float = MAX_LAG,
                 lag_rounds: int = LAG_ROUNDS, stalled: float = STALLED):
        self.clock = clock
        self.checks = dict(checks)
        self.interval = interval
        self.deadline = deadline
        self._limits = {"lag_warn": lag_warn, "max_lag": max_lag, "lag_rounds": lag_rounds, "stalled": stalled}
        self.results: dict[str, CheckResult] = {}
        self.asking: dict[str, float] = {}  # check -> when the call still unanswered was made
        self.lateness: deque[float] = deque(maxlen=max(1, lag_rounds))
        self.started = False
        self.stopping = False
        self.rounds = 0
        self._due: float | None = None
        self._next: Any = None
        self._status = OK

    def start(self) -> defer.Deferred:
        """Run the first round now and every ``interval`` after; fires when the first round has answered
        (or its deadline has passed)."""
        self.started = True
        self._due = self.clock.seconds()
        waits = self._round()
        first: defer.Deferred = defer.Deferred()
        timer = self.clock.callLater(self.deadline, lambda: first.called or first.callback(None))

        def answered(_):
            if timer.active():
                timer.cancel()
            if not first.called:
                first.callback(None)

        defer.DeferredList(waits, consumeErrors=True).addBoth(answered)
        return first

    def stop(self) -> None:
        """No more rounds; ``/healthz`` says "shutting down" from now on."""
        self.stopping = True
        if self._next is not None and self._next.active():
            self._next.cancel()
        self._next = None

    def _round(self) -> list[defer.Deferred]:
        now = self.clock.seconds()
        if self._due is not None:
            self.lateness.append(max(0.0, now - self._due))
        self._due = now + self.interval
        if not self.stopping:  # the next round first: nothing below can stop the loop
            self._next = self.clock.callLater(self.interval, self._round)
        waits = [self._ask(name, check, now) for name, check in self.checks.items() if name not in self.asking]
        self.rounds += 1
        self._note_status()
        return waits

    def _ask(self, name: str, check: Check, now: float) -> defer.Deferred:
        try:
            value = check()
        except Exception as e:
            self._record(name, failure_report(e), now)
            return defer.succeed(None)
        if not (inspect.isawaitable(value) or isinstance(value, defer.Deferred)):
            self._record(name, value, now)
            return defer.succeed(None)
        self.asking[name] = now
        d = defer.ensureDeferred(value)
        d.addCallbacks(lambda report: self._record(name, report, now),
                       lambda failure: self._record(name, failure_report(failure.value), now))
        d.addBoth(lambda _: self.asking.pop(name, None))
        return d

    def _record(self, name: str, report: Mapping[str, Any], asked_at: float) -> None:
        at = self.clock.seconds()
        self.results[name] = CheckResult(dict(report), at, (at - asked_at) * 1000)

    def _note_status(self) -> None:
        """One log line when the status changes (not one per round)."""
        verdict = self.verdict(self.clock.seconds())[0]
        if verdict.status != self._status:
            if verdict.status == OK:
                log.warning("health: ok again")
            else:
                log.warning("health: %s: %s", verdict.status, " ".join(verdict.reasons))
            self._status = verdict.status

    def verdict(self, now: float) -> tuple[Verdict, dict[str, dict[str, Any]]]:
        """The decision at ``now`` and each check's current report."""
        checks = {name: current_report(self.results.get(name), self.asking.get(name), now, self.deadline)
                  for name in self.checks}
        behind = max(0.0, now - self._due) if self._due is not None and not self.stopping else 0.0
        verdict = assess(checks, started=self.started, stopping=self.stopping, lateness=list(self.lateness),
                         behind=behind, **self._limits)
        return verdict, checks

    def report(self, now: float) -> tuple[int, dict[str, Any]]:
        """``/healthz``'s code and body: the verdict, its reasons, each check with its age, the latest lateness."""
        verdict, checks = self.verdict(now)
        latest = self.lateness[-1] if self.lateness else None
        return verdict.code, {"ok": verdict.code == 200, "status": verdict.status, "reasons": list(verdict.reasons),
                              **checks, "reactor": {"late_s": None if latest is None else round(latest, 3),
                                                    "rounds": self.rounds}}


# ---------------------------------------------------------------------------- the checks of a Hubs


def hubs_checks(hubs: Hubs) -> dict[str, Check]:
    """The checks of one Hubs process: PostgreSQL, memcached (each server), the bus publisher, each bus source."""

    async def postgres() -> dict[str, Any]:
        try:
            await hubs.store.ping()  # never cancelled here: the store's own deadline ends a hung query
        except Exception:
            hubs.metrics.database_errors.inc()
            raise
        return {"ok": True}

    async def memcached() -> dict[str, Any]:
        # Made like every cache call (off the reactor thread in a running hub): a server that stalls costs one
        # short timeout, then the breaker answers from its state (off the ring, probed) without calling it.
        calls = hubs.cache_calls if hubs.cache_calls is not None else CacheCalls(hubs.cache)
        servers = await calls.ping_each()
        answering = [name for name, error in servers.items() if error is None]
        # payloads an outage kept from being deleted: not read from memcached here until deleted there
        distrusted = hubs.states.payloads.distrusted()
        return {"ok": bool(answering), "degraded": len(answering) < len(servers), "servers": servers,
                "distrusted": distrusted}

    def bus() -> dict[str, Any]:
        return {"ok": bool(hubs.bus.healthy())}

    checks: dict[str, Check] = {"postgres": postgres, "memcached": memcached, "bus": bus}
    for name, source in hubs.sources.items():
        if source is not None:
            checks[name] = _source_check(source)
    return checks


def _source_check(source: Any) -> Check:
    def check() -> dict[str, Any]:
        report = source.health()
        ok = bool(report.get("connected")) and bool(report.get("consuming", True))
        return {**report, "ok": ok}
    return check


def monitor_for(hubs: Hubs, **limits: Any) -> HealthMonitor:
    """The monitor of a Hubs process, on its clock."""
    return HealthMonitor(hubs.clock, hubs_checks(hubs), **limits)


def healthz_answer(hubs: Hubs, monitor: HealthMonitor | None, extra: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """``/healthz``: the monitor's last word plus this process's own figures (``extra``: no I/O, read now)."""
    now = hubs.clock.seconds()
    if monitor is None:
        verdict = assess({}, started=False)
        code, body = verdict.code, {"ok": False, "status": verdict.status, "reasons": list(verdict.reasons)}
    else:
        code, body = monitor.report(now)
    handler = hubs.handler
    last = handler.last_message_at
    bus = body.get("bus")
    if isinstance(bus, dict):  # Hubs' own counters, read now (they cost nothing)
        bus.update(messages=handler.stats["messages"], duplicates=handler.stats["duplicates"],
                   last_message_age_s=None if last is None else round(now - last, 1))
    return code, {**body, **extra}
