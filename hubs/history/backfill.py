"""The backfill: fills the message store with a person's or a hub's past from datagrepper, in the background.

``Backfiller.request(kind, name)`` records a job (``hubs.history.jobs``); the jobs are walked by whichever
process of the fleet claims them first (a lease in the job's row: one at a time per person or hub),
``hubs.backfill.concurrency`` at a time per process. A walk asks datagrepper one explicit time window
after the other, oldest first (``hubs.history.plan``), each page through the bounded HTTP client; each
window's messages are stored in bulk together with how far the walk got, so a killed process's job is
resumed — by any process, once its lease has expired — from the last window stored. Message ids are
unique in the store: a message the bus brought meanwhile, or a window fetched twice, is stored once.

A failure (datagrepper down, slow, answering nonsense; PostgreSQL away) backs off — 30 s, 60 s, … up to
``hubs.services.backoff_cap`` — with the lease stretched over the wait; after ``MAX_FAILURES`` in a row the
job is marked failed (a new request resumes it from where it got).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, task

from hubs.bus.message import BusMessage
from hubs.db.recorder import stored_message
from hubs.history.jobs import BackfillJobs, LeaseLost
from hubs.history.plan import KINDS, OPEN, Job, Window, effective_since, plan_windows, split_window
from hubs.logsafe import clean
from hubs.services.datagrepper import History, HistoryQuery
from hubs.services.http import backoff_delay
from hubs.stream.model import HubEntry, NewItem

log = logging.getLogger(__name__)

MAX_FAILURES = 10  # failures in a row before a job is marked failed


@dataclass(frozen=True)
class BackfillSettings:
    """The ``hubs.backfill.*`` keys (and the retention they must stay within)."""

    days: float = 90.0
    window: float = 86400.0
    rows_per_page: int = 100
    max_pages: int = 10
    concurrency: int = 2
    lease: float = 60.0
    poll: float = 5.0
    backoff_base: float = 30.0
    backoff_cap: float = 1800.0
    max_failures: int = MAX_FAILURES
    max_age_days: float = 120.0
    batch_rows: int = 2000  # rows stored in one transaction (several windows of a busy target)
    flush_every: float = 1.0  # seconds: a quiet target's windows are stored (and shown) at least this often

    @classmethod
    def from_config(cls, config: Any) -> BackfillSettings:
        return cls(days=config.backfill_days, window=config.backfill_window,
                   rows_per_page=config.backfill_rows_per_page, concurrency=config.backfill_concurrency,
                   backoff_base=config.services_backoff_base, backoff_cap=config.services_backoff_cap,
                   max_age_days=config.messages_max_age_days)


class UnknownTarget(LookupError):
    """No such person or hub to backfill."""


class Backfiller:
    """Requests, claims and walks backfill jobs; knows the progress of the fleet's open ones.

    ``people(kind, name)``: the usernames whose messages make the target's past (a person: themselves; a
    hub: its owners and members), or None when there is no such target. ``on_progress(job)``: told after
    every window stored and when a job ends (the service rebuilds the widgets that show it).
    ``stop_after``: walk at most this many windows per job, then stop as a killed process would (tests).
    """

    def __init__(self, jobs: BackfillJobs, history: History, clock: Any, settings: BackfillSettings, owner: str,
                 people: Callable[[str, str], list[str] | None], *, metrics: Any = None,
                 on_progress: Callable[[Job], Any] | None = None, stop_after: int | None = None,
                 concerns: Callable[[BusMessage], Mapping[str, tuple]] | None = None,
                 feed_hubs: Callable[[BusMessage], Iterable[str]] | None = None):
        self.jobs = jobs
        self.history = history
        self.clock = clock
        self.settings = settings
        self.owner = owner
        self.people = people
        self.metrics = metrics
        self.on_progress = on_progress or (lambda job: None)
        self.stop_after = stop_after
        self.concerns = concerns  # who a message concerns (the stream's index): their streams get it, read
        self.feed_hubs = feed_hubs  # the hubs whose feeds show it: an entry each, read
        self.running: dict[tuple[str, str], Job] = {}  # walked by this process
        self.fleet: dict[tuple[str, str], Job] = {}  # open anywhere, as of the last poll
        self.done: dict[tuple[str, str], Job] = {}  # finished here
        self.walks: dict[tuple[str, str], defer.Deferred] = {}
        self._sleeps: set[defer.Deferred] = set()
        self._loop: task.LoopingCall | None = None
        self._stopping = False
        self._polling = False

    # ------------------------------------------------------------------ asking

    def target_people(self, kind: str, name: str) -> list[str]:
        if kind not in KINDS:
            raise UnknownTarget(f"A backfill is for a person or a hub, not {kind!r}.")
        people = self.people(kind, name)
        if people is None:
            raise UnknownTarget(f"There is no {kind} called {name!r}.")
        return people

    async def request(self, kind: str, name: str, days: float | None = None) -> Job:
        """Record a backfill of the target's last ``days`` (default ``hubs.backfill.days``) and start walking
        it soon (here, or on another process of the fleet); an open one is kept as it is."""
        self.target_people(kind, name)
        now = self.clock.seconds()
        since = effective_since(now, self.settings.days if days is None else days, self.settings.max_age_days)
        job = await self.jobs.request(kind, name, since, now, now)
        if job.status in OPEN:
            known = self.fleet.get(job.key)
            self.fleet[job.key] = job
            if known is None:
                self._told(job)  # its widgets say "Loading history… 0 %" at once
            if not self._stopping and self._loop is not None:
                self.clock.callLater(0, self._poll_logged)
        return job

    def progress(self, hub: str) -> int | None:
        """Percent of the open backfill of a hub (or of the person whose hub it is), or None (no I/O)."""
        for key in (("hub", hub), ("person", hub)):
            job = self.running.get(key) or self.fleet.get(key)
            if job is not None and job.status in OPEN:
                return job.percent
        return None

    def health(self) -> dict[str, Any]:
        """For /healthz: the backfills running here and open in the fleet (as of the last poll)."""
        return {"running": [job.as_json() for job in self.running.values()],
                "open": len({*self.fleet, *self.running}),
                "failed_here": [job.as_json() for job in self.done.values() if job.status == "failed"][-5:]}

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        """Poll for jobs (new, or left by a process that died) every ``poll`` seconds, from now."""
        self._stopping = False
        self._loop = task.LoopingCall(self._poll_logged)
        self._loop.clock = self.clock
        self._loop.start(self.settings.poll, now=True).addErrback(
            lambda f: log.error("backfill loop died: %s", f.getErrorMessage()))

    def stop(self, wait: float = 1.0) -> defer.Deferred:
        """Stop walking: each walk puts its job back in the queue after its current step (no lease to wait
        out). Fires once they have, or after ``wait`` seconds (a walk still in a fetch keeps its lease, which
        expires: a stopping process never waits on datagrepper)."""
        self._stopping = True
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        for sleep in list(self._sleeps):
            sleep.cancel()
        walks = defer.DeferredList(list(self.walks.values()), consumeErrors=True)
        walks.addTimeout(wait, self.clock)
        return walks.addErrback(lambda f: None)

    def _poll_logged(self) -> defer.Deferred:
        d = defer.ensureDeferred(self.poll())
        d.addErrback(lambda f: log.warning("backfill: could not read the jobs: %s", clean(f.getErrorMessage(), 200)))
        return d

    async def poll(self) -> None:
        """Refresh the fleet's open jobs; claim more while fewer than ``concurrency`` run here."""
        if self._polling or self._stopping:
            return
        self._polling = True
        try:
            before = dict(self.fleet)
            self.fleet = {job.key: job for job in await self.jobs.open_jobs()}
            for key, job in self.fleet.items():  # another process's progress: redraw what shows it here
                if key not in self.running and (before.get(key) is None or before[key].reached != job.reached):
                    self._told(job)
            for key, job in before.items():
                if key not in self.fleet and key not in self.running:
                    self._told(dataclasses.replace(job, status="done"))
            while len(self.running) < self.settings.concurrency and not self._stopping:
                job = await self.jobs.claim_next(self.owner, self.clock.seconds(), self.settings.lease)
                if job is None:
                    break
                self._spawn(job)
        finally:
            self._polling = False

    def _spawn(self, job: Job) -> None:
        self.running[job.key] = job
        d = defer.ensureDeferred(self.walk(job))
        self.walks[job.key] = d

        def ended(result):
            self.running.pop(job.key, None)
            self.walks.pop(job.key, None)
            if not self._stopping:
                self.clock.callLater(0, self._poll_logged)  # the next job now, not at the next poll
            return result

        d.addBoth(ended)
        d.addErrback(lambda f: log.error("backfill of %s %s failed: %s", job.kind, job.name,
                                         clean(f.getErrorMessage(), 200)))

    async def run(self, kind: str, name: str) -> Job | None:
        """Claim the target's job and walk it now (the CLI, tests); None if another process holds it."""
        job = await self.jobs.claim(kind, name, self.owner, self.clock.seconds(), self.settings.lease)
        if job is None:
            return None
        self.running[job.key] = job
        try:
            return await self.walk(job)
        finally:
            self.running.pop(job.key, None)

    async def walk(self, job: Job) -> Job:
        """Walk a claimed job's windows, oldest first, to the end (or until stopped, or its lease is lost)."""
        try:
            people = self.target_people(job.kind, job.name)
        except UnknownTarget as e:
            return await self._finish(job, "failed", str(e))
        if not people:
            return await self._finish(job, "done")
        windows = deque(plan_windows(job.reached, job.until, self.settings.window))
        failures, walked = 0, 0
        batch = _Batch(self.clock.seconds(), self.concerns, self.feed_hubs)
        log.info("backfill of %s %s: %d windows from %.0f", job.kind, job.name, len(windows), job.reached)
        try:
            while True:
                if self._stopping:  # what was fetched and not stored yet is fetched again by whoever resumes
                    await self.jobs.release(job, self.owner, self.clock.seconds())
                    return job
                if self.stop_after is not None and walked >= self.stop_after:
                    return job  # as if killed: the lease stays until it expires
                due = batch.windows and (len(batch.rows) >= self.settings.batch_rows or not windows
                                         or self.clock.seconds() - batch.since >= self.settings.flush_every)
                if not due and not windows:
                    break
                try:
                    if due:
                        now = self.clock.seconds()
                        saved = await self.jobs.save(job, self.owner, batch.rows, batch.end, batch.fetched, now,
                                                     self.settings.lease, batch.windows, batch.items)
                        self._count(job, saved, len(batch.rows), batch.unreadable)
                        job, walked = saved, walked + batch.windows
                        batch = _Batch(now, self.concerns, self.feed_hubs)
                        self.running[job.key] = job
                        self._told(job)
                    else:
                        window = windows.popleft()
                        try:
                            fetched = await self._fetch(window, people, windows)
                        except Exception:
                            windows.appendleft(window)
                            raise
                        if fetched is not None:  # None: split, its parts are next
                            batch.add(fetched[0], fetched[1], window.end, self.clock.seconds())
                    failures = 0
                except LeaseLost:
                    raise
                except defer.CancelledError:
                    raise
                except Exception as e:  # datagrepper or PostgreSQL: back off, then the same step again
                    failures += 1
                    reason = clean(str(e) or type(e).__name__, 300)
                    if self.metrics is not None:
                        self.metrics.backfill_failures.inc()
                    if failures >= self.settings.max_failures:
                        log.warning("backfill of %s %s gives up after %d failures: %s", job.kind, job.name,
                                    failures, reason)
                        return await self._finish(job, "failed", reason)
                    delay = backoff_delay(failures, self.settings.backoff_base, self.settings.backoff_cap)
                    log.info("backfill of %s %s: %s; trying again in %.0f s", job.kind, job.name, reason, delay)
                    job = await self.jobs.renew(job, self.owner, self.clock.seconds(), self.settings.lease + delay,
                                                failures, reason)
                    self.running[job.key] = job
                    await self._sleep(delay)
        except LeaseLost as e:
            log.warning("backfill: %s; stopping here", e)
            return job
        except defer.CancelledError:
            await self.jobs.release(job, self.owner, self.clock.seconds())
            return job
        return await self._finish(job, "done")

    async def _fetch(self, window: Window, people: list[str],
                     windows: deque[Window]) -> tuple[list[BusMessage], int] | None:
        """Every message of a window, page after page; None when the window was split instead (its parts put
        first in ``windows``)."""
        query = HistoryQuery(start=window.start, end=window.end, users=tuple(sorted(people)),
                             rows_per_page=self.settings.rows_per_page, order="asc")
        page = await self.history.search(query)
        parts = split_window(window, page.pages, self.settings.max_pages)
        if len(parts) > 1:
            windows.extendleft(reversed(parts))
            return None
        messages, count = list(page.messages), len(page.messages) + page.unreadable
        for number in range(2, page.pages + 1):
            await task.deferLater(self.clock, 0, lambda: None)  # a reactor turn between pages (fedmsg.meta's work)
            more = await self.history.search(HistoryQuery(**{**query.__dict__, "page": number}))
            messages += more.messages
            count += len(more.messages) + more.unreadable
        return messages, count

    async def _finish(self, job: Job, status: str, error: str = "") -> Job:
        ended = await self.jobs.finish(job, self.owner, status, self.clock.seconds(), error) or job
        self.done[ended.key] = ended
        if len(self.done) > 100:
            self.done.pop(next(iter(self.done)))
        self.fleet.pop(ended.key, None)
        self.running[ended.key] = ended
        log.info("backfill of %s %s %s: %d messages fetched, %d new", ended.kind, ended.name, status,
                 ended.fetched, ended.stored)
        self._told(ended)
        return ended

    def _sleep(self, seconds: float) -> defer.Deferred:
        d = task.deferLater(self.clock, seconds, lambda: None)
        self._sleeps.add(d)
        d.addBoth(lambda result: (self._sleeps.discard(d), result)[1])
        return d

    def _told(self, job: Job) -> None:
        try:
            self.on_progress(job)
        except Exception:
            log.exception("backfill progress listener failed")

    def _count(self, before: Job, after: Job, rows: int, unreadable: int) -> None:
        if self.metrics is None:
            return
        new = max(0, after.stored - before.stored)
        self.metrics.backfill_messages.labels("stored").inc(new)
        self.metrics.backfill_messages.labels("duplicate").inc(max(0, rows - new))
        self.metrics.backfill_messages.labels("unreadable").inc(max(0, unreadable))
        self.metrics.backfill_windows.inc(after.windows - before.windows)


class _Batch:
    """Windows fetched and not stored yet: stored together (one transaction) once there are ``batch_rows``
    rows, ``flush_every`` seconds have passed, or the walk ends."""

    def __init__(self, since: float, concerns: Callable[[BusMessage], Mapping[str, tuple]] | None = None,
                 feed_hubs: Callable[[BusMessage], Iterable[str]] | None = None):
        self.since = since
        self.concerns = concerns
        self.feed_hubs = feed_hubs
        self.rows: list = []
        # the people's and the hubs' stream entries of those rows (written read)
        self.items: list[NewItem | HubEntry] = []
        self.ids: set[str] = set()
        self.fetched = self.unreadable = self.windows = 0
        self.end = 0.0

    def add(self, messages: list[BusMessage], count: int, end: float, now: float) -> None:
        for message in messages:
            row = stored_message(message, now=now)
            if row.msg_id not in self.ids:
                self.ids.add(row.msg_id)
                self.rows.append(row)
                if self.concerns is not None:
                    self.items.extend(NewItem(row.msg_id, person, reasons, unread=False)
                                      for person, reasons in self.concerns(message).items())
                if self.feed_hubs is not None:
                    self.items.extend(HubEntry(row.msg_id, hub, fresh=False) for hub in self.feed_hubs(message))
        self.fetched += count
        self.unreadable += count - len(messages)
        self.windows += 1
        self.end = end
