"""Coalescing: one build per key in flight; changes during a build cause exactly one more."""

from twisted.internet import defer

from hubs.build.coalesce import Coalescer


class Builds:
    """Builds whose completion the test controls."""

    def __init__(self):
        self.pending: list[defer.Deferred] = []
        self.count = 0

    def build(self):
        self.count += 1
        d = defer.Deferred()
        self.pending.append(d)
        n = self.count

        async def run():
            await d
            return n
        return run()

    def finish(self):
        self.pending.pop(0).callback(None)


def _results(ds):
    out = []
    for d in ds:
        d.addCallback(out.append)
    return out


def test_readers_join_the_build_in_flight():
    """Concurrent readers of one key share one build."""
    c, b = Coalescer(), Builds()
    results = _results([c.run("k", b.build) for _ in range(5)])
    assert b.count == 1
    b.finish()
    assert results == [1] * 5 and not c.in_flight("k")


def test_fresh_requests_during_a_build_cause_exactly_one_more():
    """However many changes arrive during a build, one more build follows, and they all get it."""
    c, b = Coalescer(), Builds()
    first = _results([c.run("k", b.build, fresh=True)])
    later = _results([c.run("k", b.build, fresh=True) for _ in range(10)])
    assert b.count == 1
    b.finish()
    assert first == [1] and b.count == 2 and later == []
    b.finish()
    assert later == [2] * 10 and b.count == 2 and not c.in_flight("k")


def test_keys_are_independent():
    """Builds of different keys run side by side."""
    c, b = Coalescer(), Builds()
    _results([c.run("a", b.build), c.run("b", b.build)])
    assert b.count == 2


def test_failures_reach_every_waiter_and_free_the_key():
    """A failed build errbacks its waiters and the next request builds again."""
    c = Coalescer()

    async def boom():
        raise RuntimeError("no")

    errors = []
    for d in (c.run("k", boom), c.run("k", boom)):
        d.addErrback(lambda f: errors.append(f.type))
    assert errors == [RuntimeError, RuntimeError]
    assert not c.in_flight("k")
