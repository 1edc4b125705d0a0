"""Who a token or session belongs to: remembered between requests only while PostgreSQL's notices are heard.

Unit: the decision (a table), the cache, and ``Accounts.identify`` over the fake store. Real PostgreSQL: a
revoked token, an ended session and a changed admin flag reach a listening process within moments; a lost
listening connection forgets everything and asks again until it hears again.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import psycopg2
import pytest
import pytest_twisted
from twisted.internet import reactor, task, threads
from twisted.internet.task import Clock

from hubs.db.listen import Listener, with_keepalives
from hubs.db.store import PostgresStore
from hubs.models import User
from hubs.people.accounts import Accounts, BadCredentials
from hubs.people.auth import hash_secret
from hubs.people.credentials import CREDENTIAL_NOTICES, CredentialCache, Remembered, usable
from tests import waiting
from tests.conftest import make_config

TTL = 60.0

# (entry, now, listening) -> usable
CASES = [
    (None, 10.0, True, False),  # nothing remembered
    (Remembered("u", 10.0), 10.0, True, True),  # just read
    (Remembered("u", 10.0), 69.9, True, True),  # within the ttl
    (Remembered("u", 10.0), 70.0, True, False),  # the ttl is over: ask again (and touch last_used_at)
    (Remembered("u", 10.0), 9.0, True, False),  # the clock went back: do not trust the age
    (Remembered("u", 10.0), 11.0, False, False),  # not hearing revocations: never
    (Remembered("u", 10.0, expires_at=20.0), 19.9, True, True),  # a session before its end
    (Remembered("u", 10.0, expires_at=20.0), 20.0, True, False),  # a session at its end
]


@pytest.mark.parametrize(("entry", "now", "listening", "expected"), CASES)
def test_an_answer_is_used_only_while_fresh_heard_and_within_its_session(entry, now, listening, expected):
    assert usable(entry, now, TTL, listening) is expected


def test_the_cache_forgets_what_it_hears_and_everything_when_it_stops_hearing():
    clock = Clock()
    cache = CredentialCache(clock, ttl=TTL, size=3)
    cache.put(b"\x01", "one", cache.epoch)
    assert cache.get(b"\x01") is None  # not listening: nothing was remembered
    cache.hearing(True)
    for key in (b"\x01", b"\x02", b"\x03", b"\x04"):
        cache.put(key, key.hex(), cache.epoch)
    assert len(cache) == 3 and cache.get(b"\x01") is None and cache.get(b"\x04") == "04"  # the oldest went
    cache.heard("04")
    assert cache.get(b"\x04") is None and cache.get(b"\x03") == "03"
    began = cache.epoch
    cache.heard("ff")  # some other revocation while a read was under way
    cache.put(b"\x05", "05", began)
    assert cache.get(b"\x05") is None  # that read may predate it: not remembered
    cache.heard("*")
    assert len(cache) == 0
    cache.put(b"\x06", "06", cache.epoch)
    cache.heard("not hex")  # not ours to parse: forget everything
    assert cache.get(b"\x06") is None
    cache.put(b"\x07", "07", cache.epoch)
    cache.hearing(False)
    assert cache.get(b"\x07") is None and cache.health()["listening"] is False
    clock.advance(1)
    assert CredentialCache(clock, ttl=0).get(b"\x07") is None


class CountingStore:
    """The two questions ``identify`` asks, counted."""

    def __init__(self, clock):
        self.clock = clock
        self.asked = 0
        self.tokens = {hash_secret("tok"): User("ralph", "Ralph", "r@example.org", False)}
        self.sessions = {hash_secret("cookie"): (User("mizmo", "Máirín", "m@example.org", False), "csrf", 100.0)}

    async def token_user(self, key):
        self.asked += 1
        return self.tokens.get(key)

    async def get_session(self, key):
        self.asked += 1
        found = self.sessions.get(key)
        return found if found is not None and found[2] > self.clock.seconds() else None


def _accounts(store, clock, cache=None) -> Accounts:
    return Accounts(make_config(), SimpleNamespace(store=store), None, clock, cache)


@pytest_twisted.ensureDeferred
async def test_identify_asks_the_store_once_while_listening_and_every_time_otherwise():
    clock = Clock()
    store = CountingStore(clock)
    cache = CredentialCache(clock, ttl=TTL)
    accounts = _accounts(store, clock, cache)
    for _ in range(3):
        assert (await accounts.identify("Bearer tok", None)).username == "ralph"
    assert store.asked == 3  # nobody hears revocations: every request asks
    cache.hearing(True)
    for _ in range(3):
        who = await accounts.identify("Bearer tok", None)
        assert (who.username, who.via) == ("ralph", "token")
        who = await accounts.identify(None, "cookie")
        assert (who.username, who.via, who.csrf) == ("mizmo", "session", "csrf")
    assert store.asked == 5
    cache.heard(hash_secret("tok").hex())  # revoked
    del store.tokens[hash_secret("tok")]
    with pytest.raises(BadCredentials):
        await accounts.identify("Bearer tok", None)
    clock.advance(100)  # the session's end
    assert not (await accounts.identify(None, "cookie")).signed_in
    with pytest.raises(BadCredentials):
        await accounts.identify("Bearer nope", None)
    assert store.asked == 8  # a bad token is never remembered: asked each time


@pytest_twisted.ensureDeferred
async def test_logging_out_forgets_the_session_here_at_once():
    """The logout's own process does not wait for PostgreSQL's notice."""
    clock = Clock()
    store = CountingStore(clock)
    cache = CredentialCache(clock, ttl=TTL)
    cache.hearing(True)
    accounts = _accounts(store, clock, cache)

    async def delete_session(key):
        store.sessions.pop(key, None)

    store.delete_session = delete_session
    assert (await accounts.identify(None, "cookie")).signed_in
    await accounts.end_session("cookie")
    assert not (await accounts.identify(None, "cookie")).signed_in


# ---------------------------------------------------------------------------------------- real PostgreSQL


def test_the_listening_connection_has_keepalives_unless_the_dsn_sets_its_own():
    params = psycopg2.extensions.parse_dsn(with_keepalives("host=db dbname=hubs keepalives_idle=30"))
    assert (params["keepalives"], params["keepalives_idle"], params["keepalives_count"]) == ("1", "30", "3")


def _sql(dsn: str, sql: str, params: tuple = ()) -> list:
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


async def _wait(predicate, what: str, timeout: float = 5.0) -> None:
    await waiting.wait_until(predicate, timeout, what)


@pytest_twisted.ensureDeferred
async def test_a_listening_process_forgets_a_revoked_token_an_ended_session_and_a_changed_admin(empty_db):
    store = await PostgresStore(empty_db, size=1).start()
    cache = CredentialCache(reactor, ttl=TTL)
    listener = Listener(empty_db, CREDENTIAL_NOTICES, reactor, cache.heard, cache.hearing)
    accounts = _accounts(store, reactor, cache)
    listener.start()
    try:
        await _wait(lambda: listener.listening, "the listener")
        await store.upsert_user("ralph", "Ralph", "r@example.org")
        await store.create_api_token(hash_secret("tok"), "ralph", "ci")
        await store.create_session(hash_secret("cookie"), "ralph", "csrf", time.time() + 600)
        assert (await accounts.identify("Bearer tok", None)).username == "ralph"
        assert (await accounts.identify(None, "cookie")).csrf == "csrf"
        assert cache.get(hash_secret("tok")) is not None and cache.get(hash_secret("cookie")) is not None

        # A sign-in rewrites the name and email (every login): nothing is forgotten for that.
        await store.upsert_user("ralph", "Ralph B.", "r@example.org")
        _sql(empty_db, "UPDATE api_tokens SET last_used_at = now()")  # the once-a-minute touch: neither
        heard = listener.heard
        await task.deferLater(reactor, 0.3, lambda: None)  # notices arrive within milliseconds
        assert listener.heard == heard and len(cache) == 2

        # Made an admin elsewhere: every answer is forgotten, the next request sees the flag.
        await threads.deferToThread(_sql, empty_db, "UPDATE users SET is_admin = true WHERE username = 'ralph'")
        await _wait(lambda: len(cache) == 0, "the admin notice")
        assert (await accounts.identify("Bearer tok", None)).is_admin

        # The token revoked by the command line tool (another connection, another process): refused here.
        await threads.deferToThread(_sql, empty_db, "DELETE FROM api_tokens WHERE name = 'ci'")
        await _wait(lambda: cache.get(hash_secret("tok")) is None, "the revocation")
        with pytest.raises(BadCredentials):
            await accounts.identify("Bearer tok", None)

        # Logged out on another process of the fleet: this one no longer knows the cookie.
        assert (await accounts.identify(None, "cookie")).signed_in
        other = await PostgresStore(empty_db, size=1).start()
        try:
            await other.delete_session(hash_secret("cookie"))
        finally:
            other.close()
        await _wait(lambda: cache.get(hash_secret("cookie")) is None, "the logout")
        assert not (await accounts.identify(None, "cookie")).signed_in
    finally:
        listener.stop()
        store.close()


@pytest_twisted.ensureDeferred
async def test_a_lost_listening_connection_forgets_everything_and_listens_again(empty_db):
    store = await PostgresStore(empty_db, size=1).start()
    cache = CredentialCache(reactor, ttl=TTL)
    states: list[bool] = []
    listener = Listener(empty_db, CREDENTIAL_NOTICES, reactor, cache.heard,
                        lambda listening: (states.append(listening), cache.hearing(listening)))
    accounts = _accounts(store, reactor, cache)
    listener.start()
    try:
        await _wait(lambda: listener.listening, "the listener")
        await store.upsert_user("ralph", "Ralph", "r@example.org")
        await store.create_api_token(hash_secret("tok"), "ralph", "ci")
        await accounts.identify("Bearer tok", None)
        assert len(cache) == 1
        # The listening backend killed (a restart, a failover, an idle-connection reaper).
        await threads.deferToThread(
            _sql, empty_db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE query LIKE 'LISTEN %%' AND datname = current_database()")
        await _wait(lambda: False in states, "the lost connection")
        assert len(cache) == 0  # it may have missed a revocation: everything forgotten
        await _wait(lambda: listener.listening, "listening again")
        assert states == [True, False, True]
        await accounts.identify("Bearer tok", None)
        await threads.deferToThread(_sql, empty_db, "DELETE FROM api_tokens")
        await _wait(lambda: cache.get(hash_secret("tok")) is None, "a revocation after the reconnection")
    finally:
        listener.stop()
        store.close()
    assert states[-1] is False and not listener.listening
