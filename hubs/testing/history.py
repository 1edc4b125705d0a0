"""Fakes of the backfill's adapters: ``FakeHistory`` (datagrepper) and ``FakeJobs`` (the jobs table and the
message store), each held to its real adapter by one suite (tests/test_datagrepper.py,
tests/test_backfill_jobs.py). Both can be told to fail."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from hubs.history.jobs import LeaseLost
from hubs.history.plan import OPEN, Job, plan_request
from hubs.models import StoredMessage
from hubs.services.datagrepper import HistoryPage, HistoryQuery, HistoryRecord, read_answer, search_records
from hubs.services.http import ServiceError
from hubs.stream.model import HubEntry, NewItem


class FakeHistory:
    """``History`` over records in memory, with datagrepper's query semantics (``search_records``).

    ``fail_next(n, error)``: the next ``n`` searches raise ``error``; ``calls``: every query asked.
    """

    def __init__(self, records: Sequence[HistoryRecord], now: float, meta: Any = None):
        self.records = sorted(records, key=lambda r: r.ts)
        self.now = now
        self.meta = meta
        self.calls: list[HistoryQuery] = []
        self._failures: list[Exception] = []

    def fail_next(self, n: int, error: Exception | None = None) -> None:
        self._failures += [error or ServiceError("datagrepper answered HTTP 500.")] * n

    async def search(self, query: HistoryQuery) -> HistoryPage:
        self.calls.append(query)
        if self._failures:
            raise self._failures.pop(0)
        args = {k: [str(x) for x in v] if isinstance(v, list) else [str(v)] for k, v in query.params().items()}
        return read_answer(search_records(self.records, args, self.now), query.page, self.meta)


class FakeJobs:
    """``BackfillJobs`` in memory, writing messages to a store (a ``FakeStore``: its ``add_messages``)."""

    def __init__(self, store: Any):
        self.store = store
        self.jobs: dict[tuple[str, str], Job] = {}
        self.fail_saves = 0  # the next saves raise (as a lost connection would)

    async def request(self, kind: str, name: str, since: float, until: float, now: float) -> Job:
        existing = self.jobs.get((kind, name))
        plan = plan_request(existing, since, until)
        if plan.action == "keep":
            return existing
        job = Job(kind, name, plan.since, plan.until, plan.reached, requested_at=now, updated_at=now)
        self.jobs[job.key] = job
        return job

    def _claimable(self, job: Job | None, owner: str, now: float) -> bool:
        return job is not None and job.status in OPEN and (
            job.owner is None or job.owner == owner or job.lease_until <= now)

    async def claim(self, kind: str, name: str, owner: str, now: float, lease: float) -> Job | None:
        job = self.jobs.get((kind, name))
        if not self._claimable(job, owner, now):
            return None
        job = self.jobs[job.key] = dataclasses.replace(job, owner=owner, status="running", lease_until=now + lease,
                                                       updated_at=now)
        return job

    async def claim_next(self, owner: str, now: float, lease: float) -> Job | None:
        waiting = sorted((j for j in self.jobs.values() if j.status in OPEN and (
            j.owner is None or j.lease_until <= now)), key=lambda j: j.requested_at)
        return await self.claim(waiting[0].kind, waiting[0].name, owner, now, lease) if waiting else None

    def _held(self, job: Job, owner: str) -> Job:
        current = self.jobs.get(job.key)
        if current is None or current.owner != owner or current.status != "running":
            raise LeaseLost(f"the backfill of {job.kind} {job.name} is no longer this process's")
        return current

    async def save(self, job: Job, owner: str, messages: list[StoredMessage], reached: float, fetched: int,
                   now: float, lease: float, windows: int = 1, items=()) -> Job:
        if self.fail_saves:
            self.fail_saves -= 1
            raise ConnectionError("the database went away")
        current = self._held(job, owner)
        if items:
            people = [i for i in items if isinstance(i, NewItem)]
            hubs = [i for i in items if isinstance(i, HubEntry)]
            stored, _ = await self.store.add_messages_with_items(messages, people, hubs)
        else:
            stored = await self.store.add_messages(messages)
        new = self.jobs[job.key] = dataclasses.replace(
            current, reached=max(current.reached, reached), fetched=current.fetched + fetched,
            stored=current.stored + stored, windows=current.windows + windows, failures=0, error="",
            lease_until=now + lease, updated_at=now)
        return new

    async def renew(self, job: Job, owner: str, now: float, lease: float, failures: int = 0,
                    error: str = "") -> Job:
        current = self._held(job, owner)
        new = self.jobs[job.key] = dataclasses.replace(current, lease_until=now + lease, updated_at=now,
                                                       failures=failures, error=error)
        return new

    async def finish(self, job: Job, owner: str, status: str, now: float, error: str = "") -> Job | None:
        current = self.jobs.get(job.key)
        if current is None or current.owner != owner:
            return None
        new = self.jobs[job.key] = dataclasses.replace(current, status=status, error=error, owner=None,
                                                       lease_until=0.0, updated_at=now)
        return new

    async def release(self, job: Job, owner: str, now: float) -> None:
        current = self.jobs.get(job.key)
        if current is not None and current.owner == owner and current.status == "running":
            self.jobs[job.key] = dataclasses.replace(current, status="queued", owner=None, lease_until=0.0,
                                                     updated_at=now)

    async def get(self, kind: str, name: str) -> Job | None:
        return self.jobs.get((kind, name))

    async def open_jobs(self) -> list[Job]:
        return sorted((j for j in self.jobs.values() if j.status in OPEN), key=lambda j: j.requested_at)
