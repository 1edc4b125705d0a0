-- Backfill jobs: filling the message store with a person's or a hub's past from datagrepper.
--
-- One row per target (kind, name): the time range asked for (since, until), how far the walk got
-- (reached: every window before it is stored), its status and counts, and the lease that makes it run
-- on one process of a fleet at a time (owner, lease_until). A lease row rather than an advisory lock:
-- an advisory lock belongs to a session, so it would pin one pooled connection for the whole backfill,
-- and a killed process's lock lingers until PostgreSQL notices the dead connection (TCP keepalive:
-- minutes to hours behind a balancer); a lease says in the row until when it holds, any process can
-- see who holds it and take it over once it has expired, and renewing it is written in the same
-- transaction as the window stored, so "how far it got" and "who is at it" never disagree.
CREATE TABLE backfill_jobs (
    kind          text NOT NULL CHECK (kind IN ('person', 'hub')),
    name          text NOT NULL,
    since         double precision NOT NULL,
    until         double precision NOT NULL,
    reached       double precision NOT NULL,
    status        text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
    fetched       bigint NOT NULL DEFAULT 0,
    stored        bigint NOT NULL DEFAULT 0,
    windows       integer NOT NULL DEFAULT 0,
    failures      integer NOT NULL DEFAULT 0,
    error         text NOT NULL DEFAULT '',
    owner         text,
    lease_until   double precision NOT NULL DEFAULT 0,
    requested_at  double precision NOT NULL,
    updated_at    double precision NOT NULL,
    PRIMARY KEY (kind, name)
);
-- The jobs a process may pick up: waiting, or running under a lease that may have expired.
CREATE INDEX backfill_jobs_open_idx ON backfill_jobs (lease_until) WHERE status IN ('queued', 'running');
