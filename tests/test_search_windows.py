"""A search for words or a substring on PostgreSQL asks the newest day first (issue 17).

The GIN indexes give a word's matches in no order, so asking the last two months at once fetched every match of
those months to keep the newest page: a token matching thousands of messages a month read thousands of heap pages.
The last day (its GIN bitmap AND-ed with the day's rows of the index on ``ts``) reads only its own matches; the
older windows are asked only for what it lacked, and the answer is the one a single statement gives.
"""

import time

import pytest_twisted

from hubs.db.store import PostgresStore
from hubs.models import StoredMessage
from hubs.search.query import parse_query

DAY = 86400


class Recording(PostgresStore):
    """The store, keeping the parameters of each search statement it runs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked: list[dict] = []

    async def _query(self, sql, params=()):
        if "FROM messages WHERE" in sql and isinstance(params, dict):
            self.asked.append(params)
        return await super()._query(sql, params)


def _m(name: str, ts: float, summary: str) -> StoredMessage:
    return StoredMessage(msg_id=name, topic="org.fedoraproject.prod.pagure.issue.new", category="pagure", ts=ts,
                         usernames=("ralph",), packages=(), body={"name": name}, summary=summary, agent="ralph")


async def _store(dsn: str, now: float) -> Recording:
    store = Recording(dsn, size=1)
    await store.start()
    # In the last day d0 … d4 (newest first), 10 days ago t0 … t2, 100 days ago (an older month) o0 … o1; each
    # a word, and a token of digits that a search of "w471" finds as a substring (w4710 …), and noise.
    messages = [_m(f"d{i}", now - 3600 * (i + 1), f"ralph filed needle w471{i} today") for i in range(5)]
    messages += [_m(f"t{i}", now - 10 * DAY - 3600 * i, f"ralph filed needle w471{i} lately") for i in range(3)]
    messages += [_m(f"o{i}", now - 100 * DAY - 3600 * i, f"ralph filed needle w471{i} long ago") for i in range(2)]
    messages += [_m(f"n{i}", now - i * 7200, "ralph filed hay w4800") for i in range(40)]
    await store.ensure_partitions(now - 100 * DAY, 5)
    await store.add_messages(messages)
    return store


async def _found(store: Recording, **args) -> list[str]:
    store.asked.clear()
    return [m.msg_id for m, _ in await store.search_messages(parse_query(args))]


@pytest_twisted.ensureDeferred
async def test_a_word_search_asks_the_last_day_first_and_older_windows_only_for_what_it_lacked(empty_db):
    now = time.time()
    store = await _store(empty_db, now)
    try:
        for q in ("needle", "w471"):  # a word; a token with digits (a word and a substring)
            assert await _found(store, q=q, limit="3") == ["d0", "d1", "d2"]
            (asked,) = store.asked  # the day held the page: nothing older was asked
            assert abs(asked["lo"] - (now - DAY)) < 60 and asked["hi"] is None
            assert await _found(store, q=q, limit="7") == ["d0", "d1", "d2", "d3", "d4", "t0", "t1"]
            assert [a["limit"] for a in store.asked] == [7, 2]  # then the rest of the last two months
            every = ["d0", "d1", "d2", "d3", "d4", "t0", "t1", "t2", "o0", "o1"]
            assert await _found(store, q=q) == every
            assert len(store.asked) == 3  # and the older months
            assert await _found(store, q=q, limit="4", before=f"{now - 3 * 3600 - 1}:0") == ["d3", "d4", "t0", "t1"]
        assert await _found(store, q="needle -today") == ["t0", "t1", "t2", "o0", "o1"]
        assert await _found(store, q="nothing-like-this") == []
        assert await _found(store, person="ralph", limit="2") == ["n0", "d0"]  # filters only: as before
    finally:
        store.close()

