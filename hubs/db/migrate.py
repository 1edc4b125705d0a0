"""Ordered SQL migrations, applied idempotently with a recorded version.

Files are ``NNNN_name.sql`` in ``hubs/db/migrations``; each runs in its own
transaction together with the row that records it, under an advisory lock so
that two processes migrating at once do not collide.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg2

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_ID = 0x68756273  # "hubs"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Return the migrations in order; refuse gaps, duplicates and odd names."""
    found = []
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file {path.name!r} is not named NNNN_name.sql")
        found.append(Migration(int(match.group(1)), match.group(2), path))
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise ValueError(f"migration {migration.path.name} breaks the sequence (expected {expected:04d})")
    return found


def latest_version(directory: Path = MIGRATIONS_DIR) -> int:
    migrations = discover(directory)
    return migrations[-1].version if migrations else 0


def migrate(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[int]:
    """Apply every migration not yet recorded; return the versions applied."""
    applied = []
    conn = psycopg2.connect(dsn)
    try:
        with conn:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY, name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                )
        try:
            for migration in discover(directory):
                with conn:
                    with conn.cursor() as cur:
                        cur.execute("SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,))
                        if cur.fetchone():
                            continue
                        log.info("applying migration %04d_%s", migration.version, migration.name)
                        cur.execute(migration.path.read_text(encoding="utf-8"))
                        cur.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                            (migration.version, migration.name),
                        )
                        applied.append(migration.version)
        finally:
            with conn:
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    finally:
        conn.close()
    return applied
