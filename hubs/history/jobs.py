"""Backfill jobs in PostgreSQL (``backfill_jobs``, migration 0009): what each backfill asked for, how far it
got, and the lease that lets one process of a fleet at a time walk it.

A window's messages and the job's new position are written in one transaction (``save``), together with
the renewal of the lease: a backfill killed mid-way resumes from the last window it stored, and a process
whose lease was taken over can store nothing more. Why a lease row and not an advisory lock: see the
migration.

``PostgresJobs`` runs on one connection of its own, in one thread of its own: the messages go in with
``COPY`` (``hubs.db.ingest``), which txpostgres's asynchronous connections cannot do, and the reactor never
waits for it. ``hubs.testing.history.FakeJobs`` is the fake; ``tests/test_backfill_jobs.py`` holds both to
the same suite.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any
from typing import Protocol as Interface

from hubs.history.plan import OPEN, Job, plan_request
from hubs.models import StoredMessage
from hubs.stream.model import HubEntry, NewItem

log = logging.getLogger(__name__)

COLUMNS = ("kind, name, since, until, reached, status, fetched, stored, windows, failures, error, owner, "
           "lease_until, requested_at, updated_at")


class LeaseLost(RuntimeError):
    """This process no longer holds the job's lease (it expired and another process took the job over)."""


class BackfillJobs(Interface):
    """The jobs and the message store, as a backfill writes them."""

    async def request(self, kind: str, name: str, since: float, until: float, now: float) -> Job: ...

    async def claim(self, kind: str, name: str, owner: str, now: float, lease: float) -> Job | None: ...

    async def claim_next(self, owner: str, now: float, lease: float) -> Job | None: ...

    async def save(self, job: Job, owner: str, messages: list[StoredMessage], reached: float, fetched: int,
                   now: float, lease: float, windows: int = 1, items: Sequence[NewItem | HubEntry] = ()) -> Job: ...

    async def renew(self, job: Job, owner: str, now: float, lease: float, failures: int = 0,
                    error: str = "") -> Job: ...

    async def finish(self, job: Job, owner: str, status: str, now: float, error: str = "") -> Job | None: ...

    async def release(self, job: Job, owner: str, now: float) -> None: ...

    async def get(self, kind: str, name: str) -> Job | None: ...

    async def open_jobs(self) -> list[Job]: ...


def _job(row: tuple) -> Job:
    return Job(*row)


class PostgresJobs:
    """``BackfillJobs`` on PostgreSQL: one blocking psycopg2 connection, used from one thread of its own."""

    def __init__(self, dsn: str, reactor: Any, statement_timeout: float = 30.0, connect_timeout: float = 5.0):
        from twisted.python.threadpool import ThreadPool

        self.dsn = dsn
        self.reactor = reactor
        self.statement_timeout = statement_timeout
        self.connect_timeout = connect_timeout
        self._pool = ThreadPool(1, 1, name="hubs-backfill-db")
        # Never keeps a stopping process alive: a statement in flight is abandoned with the process.
        self._pool.threadFactory = lambda *args, **kwargs: threading.Thread(*args, daemon=True, **kwargs)
        self._conn = None
        self._months: set = set()  # months whose partition this connection made sure of
        self._closing = False

    def start(self) -> None:
        self._pool.start()

    def close(self) -> None:
        """Close the connection and stop the thread after the statement it runs (never waited for here).
        Once: a process told twice to stop (two SIGTERMs) closes it once."""
        if self._closing:
            return
        self._closing = True
        self._pool.callInThread(self._disconnect)
        threading.Thread(target=self._pool.stop, name="hubs-backfill-db-stop", daemon=True).start()

    # ------------------------------------------------------------------ the thread's side

    def _connection(self):
        import psycopg2

        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(self.dsn, connect_timeout=max(1, round(self.connect_timeout)),
                                          options=f"-c statement_timeout={int(self.statement_timeout * 1000)}",
                                          application_name="hubs-backfill")
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None and not self._conn.closed:
            self._conn.close()
        self._conn = None

    def _call(self, fn, *args):
        import psycopg2

        try:
            return fn(self._connection(), *args)
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            self._disconnect()  # opened again for the next call
            raise

    def _run(self, fn, *args):
        from twisted.internet import threads

        return threads.deferToThreadPool(self.reactor, self._pool, self._call, fn, *args)

    @staticmethod
    def _one(conn, sql: str, params: tuple | dict) -> Job | None:
        with conn:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                row = cur.fetchone()
        return None if row is None else _job(row)

    # ------------------------------------------------------------------ the interface

    async def request(self, kind: str, name: str, since: float, until: float, now: float) -> Job:
        def run(conn):
            with conn:
                with conn.cursor() as cur:
                    cur.execute(f"SELECT {COLUMNS} FROM backfill_jobs WHERE kind = %s AND name = %s FOR UPDATE",
                                (kind, name))
                    row = cur.fetchone()
                    existing = None if row is None else _job(row)
                    plan = plan_request(existing, since, until)
                    if plan.action == "keep":
                        return existing
                    # Another process may have opened the job meanwhile (no row to lock yet): keep theirs.
                    cur.execute(
                        f"INSERT INTO backfill_jobs ({COLUMNS}) VALUES (%(kind)s, %(name)s, %(since)s, %(until)s,"
                        " %(reached)s, 'queued', 0, 0, 0, 0, '', NULL, 0, %(now)s, %(now)s)"
                        " ON CONFLICT (kind, name) DO UPDATE SET since = EXCLUDED.since, until = EXCLUDED.until,"
                        " reached = EXCLUDED.reached, status = 'queued', fetched = 0, stored = 0, windows = 0,"
                        " failures = 0, error = '', owner = NULL, lease_until = 0,"
                        " requested_at = EXCLUDED.requested_at, updated_at = EXCLUDED.updated_at"
                        " WHERE backfill_jobs.status NOT IN ('queued', 'running')"
                        f" RETURNING {COLUMNS}",
                        {"kind": kind, "name": name, "since": plan.since, "until": plan.until,
                         "reached": plan.reached, "now": now})
                    row = cur.fetchone()
                    if row is None:
                        cur.execute(f"SELECT {COLUMNS} FROM backfill_jobs WHERE kind = %s AND name = %s",
                                    (kind, name))
                        row = cur.fetchone()
                    return _job(row)

        return await self._run(run)

    async def claim(self, kind: str, name: str, owner: str, now: float, lease: float) -> Job | None:
        return await self._run(self._one, (
            "UPDATE backfill_jobs SET owner = %(owner)s, status = 'running', lease_until = %(until)s,"
            " updated_at = %(now)s WHERE kind = %(kind)s AND name = %(name)s AND status IN ('queued', 'running')"
            " AND (owner IS NULL OR owner = %(owner)s OR lease_until <= %(now)s)"
            f" RETURNING {COLUMNS}"),
            {"owner": owner, "until": now + lease, "now": now, "kind": kind, "name": name})

    async def claim_next(self, owner: str, now: float, lease: float) -> Job | None:
        return await self._run(self._one, (
            "UPDATE backfill_jobs SET owner = %(owner)s, status = 'running', lease_until = %(until)s,"
            " updated_at = %(now)s WHERE (kind, name) = (SELECT kind, name FROM backfill_jobs"
            " WHERE status IN ('queued', 'running') AND (owner IS NULL OR lease_until <= %(now)s)"
            " ORDER BY requested_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
            f" RETURNING {COLUMNS}"),
            {"owner": owner, "until": now + lease, "now": now})

    async def save(self, job: Job, owner: str, messages: list[StoredMessage], reached: float, fetched: int,
                   now: float, lease: float, windows: int = 1, items: Sequence[NewItem | HubEntry] = ()) -> Job:
        from hubs.db.ingest import ensure_months, insert_items, insert_rows
        from hubs.db.partitions import Month

        def run(conn):
            new = [m for m in messages if Month.of(m.ts) not in self._months]
            if new:  # a transaction per new month (creating one locks the store until commit): once each
                ensure_months(conn, new)
                self._months.update(Month.of(m.ts) for m in new)
            with conn:
                with conn.cursor() as cur:
                    # Lost with the job's new position in a crash, so the window is fetched again: no need
                    # to wait for the disk.
                    cur.execute("SET LOCAL synchronous_commit = off")
                    cur.execute("SELECT 1 FROM backfill_jobs WHERE kind = %s AND name = %s AND owner = %s"
                                " AND status = 'running' FOR UPDATE", (job.kind, job.name, owner))
                    if cur.fetchone() is None:
                        raise LeaseLost(f"the backfill of {job.kind} {job.name} is no longer this process's")
                    stored = insert_rows(cur, messages)
                    insert_items(cur, items)  # the people's streams, read: history to find, not news
                    cur.execute(
                        "UPDATE backfill_jobs SET reached = greatest(reached, %(reached)s),"
                        " fetched = fetched + %(fetched)s, stored = stored + %(stored)s,"
                        " windows = windows + %(windows)s, failures = 0, error = '', lease_until = %(until)s,"
                        " updated_at = %(now)s"
                        f" WHERE kind = %(kind)s AND name = %(name)s RETURNING {COLUMNS}",
                        {"reached": reached, "fetched": fetched, "stored": stored, "windows": windows,
                         "until": now + lease,
                         "now": now, "kind": job.kind, "name": job.name})
                    return _job(cur.fetchone())

        return await self._run(run)

    async def renew(self, job: Job, owner: str, now: float, lease: float, failures: int = 0,
                    error: str = "") -> Job:
        def run(conn):
            found = self._one(conn, (
                "UPDATE backfill_jobs SET lease_until = %(until)s, updated_at = %(now)s, failures = %(failures)s,"
                " error = %(error)s WHERE kind = %(kind)s AND name = %(name)s AND owner = %(owner)s"
                f" AND status = 'running' RETURNING {COLUMNS}"),
                {"until": now + lease, "now": now, "failures": failures, "error": error, "kind": job.kind,
                 "name": job.name, "owner": owner})
            if found is None:
                raise LeaseLost(f"the backfill of {job.kind} {job.name} is no longer this process's")
            return found

        return await self._run(run)

    async def finish(self, job: Job, owner: str, status: str, now: float, error: str = "") -> Job | None:
        return await self._run(self._one, (
            "UPDATE backfill_jobs SET status = %(status)s, error = %(error)s, owner = NULL, lease_until = 0,"
            " updated_at = %(now)s WHERE kind = %(kind)s AND name = %(name)s AND owner = %(owner)s"
            f" RETURNING {COLUMNS}"),
            {"status": status, "error": error, "now": now, "kind": job.kind, "name": job.name, "owner": owner})

    async def release(self, job: Job, owner: str, now: float) -> None:
        await self._run(self._one, (
            "UPDATE backfill_jobs SET status = 'queued', owner = NULL, lease_until = 0, updated_at = %(now)s"
            " WHERE kind = %(kind)s AND name = %(name)s AND owner = %(owner)s AND status = 'running'"
            f" RETURNING {COLUMNS}"),
            {"now": now, "kind": job.kind, "name": job.name, "owner": owner})

    async def get(self, kind: str, name: str) -> Job | None:
        return await self._run(self._one, f"SELECT {COLUMNS} FROM backfill_jobs WHERE kind = %s AND name = %s",
                               (kind, name))

    async def open_jobs(self) -> list[Job]:
        def run(conn):
            with conn:
                with conn.cursor() as cur:
                    cur.execute(f"SELECT {COLUMNS} FROM backfill_jobs WHERE status IN %s ORDER BY requested_at",
                                (OPEN,))
                    return [_job(row) for row in cur.fetchall()]

        return await self._run(run)
