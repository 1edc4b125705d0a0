"""The build queue and the viewers: a few builds at once, the most wanted first, no viewer no build."""

from __future__ import annotations

import pytest
from twisted.internet import defer
from twisted.internet.task import Clock

from hubs.build.cache import CacheUnavailable, FakeCache
from hubs.build.queue import WAITING, BuildQueue, TimeSlices
from hubs.build.viewers import HERE, RebuildPlan, Viewers, chunks, parse_mark, plan_rebuilds, viewers_key


class Jobs:
    """Jobs that finish when the test says so, remembering the order they started in and how many ran at once."""

    def __init__(self):
        self.started: list[str] = []
        self.pending: dict[str, defer.Deferred] = {}
        self.running = 0
        self.most = 0

    def job(self, name: str, sync: bool = False):
        def run():
            self.started.append(name)
            if sync:
                return name
            self.running += 1
            self.most = max(self.most, self.running)
            d = self.pending[name] = defer.Deferred()
            d.addBoth(self._ended)
            return d

        return run

    def _ended(self, result):
        self.running -= 1
        return result

    def finish(self, name: str) -> None:
        self.pending.pop(name).callback(name)


def one_turn(clock: Clock) -> None:
    """Run what is due now, but not what that schedules for "now" in turn (Clock.advance(0) would run it too)."""
    due = [c for c in clock.getDelayedCalls() if c.getTime() <= clock.seconds()]
    for call in due:
        func, args, kw = call.func, call.args, call.kw
        call.cancel()
        func(*args, **kw)


def test_a_job_starts_at_once_when_a_slot_is_free_and_fires_with_its_result():
    """No waiting and nothing queued: the job runs now, and its Deferred carries its result."""
    queue, jobs = BuildQueue(Clock(), concurrency=2), Jobs()
    d = queue.run("a", 0, jobs.job("a"))
    assert jobs.started == ["a"] and queue.running == 1 and not d.called
    jobs.finish("a")
    assert d.result == "a" and queue.running == 0


def test_never_more_jobs_at_once_than_the_concurrency_and_the_rest_start_a_turn_after_a_slot_frees():
    """Five jobs, two slots: two run; a finished one's slot goes to the next one reactor turn later."""
    clock, jobs = Clock(), Jobs()
    queue = BuildQueue(clock, concurrency=2)
    for name in "abcde":
        queue.run(name, 0, jobs.job(name))
    clock.advance(0)
    assert jobs.started == ["a", "b"] and queue.waiting == 3
    jobs.finish("a")
    assert jobs.started == ["a", "b"]  # not inside a's callback: the reactor turns first
    one_turn(clock)
    assert jobs.started == ["a", "b", "c"]
    for name in "bcde":
        jobs.finish(name)
        one_turn(clock)
    assert jobs.started == list("abcde") and jobs.most == 2 and queue.stats["most_running"] == 2
    assert queue.running == 0 and queue.waiting == 0


def test_waiting_jobs_start_by_priority_then_in_the_order_they_came():
    """The highest priority first; equal priorities keep their order."""
    clock, jobs = Clock(), Jobs()
    queue = BuildQueue(clock, concurrency=1)
    queue.run("first", 0, jobs.job("first"))
    for name, priority in [("low", 1), ("high", 5), ("mid", 3), ("high2", 5), ("reader", WAITING)]:
        queue.run(name, priority, jobs.job(name))
    for name in ["first", "reader", "high", "high2", "mid"]:
        jobs.finish(name)
        clock.advance(0)
    assert jobs.started == ["first", "reader", "high", "high2", "mid", "low"]


def test_a_queued_job_can_be_raised_and_then_starts_before_the_others():
    """A reader joining a queued rebuild raises it above everything that only pushes."""
    clock, jobs = Clock(), Jobs()
    queue = BuildQueue(clock, concurrency=1)
    queue.run("busy", 0, jobs.job("busy"))
    queue.run("a", 10, jobs.job("a"))
    queue.run("b", 1, jobs.job("b"))
    assert queue.raise_priority("b", WAITING) is True
    assert queue.raise_priority("nothing queued", WAITING) is False
    assert queue.raise_priority("a", 0) is True  # never lowered
    jobs.finish("busy")
    clock.advance(0)
    jobs.finish("b")
    clock.advance(0)
    assert jobs.started == ["busy", "b", "a"] and queue.waiting == 0


def test_a_batch_is_queued_first_and_jobs_that_end_at_once_start_at_most_burst_per_turn():
    """Synchronous jobs free their slot at once, but a turn starts at most ``burst`` of them: the reactor breathes."""
    clock, jobs = Clock(), Jobs()
    queue = BuildQueue(clock, concurrency=2, burst=3)
    with queue.batch():
        results = [queue.run(f"j{i}", 0, jobs.job(f"j{i}", sync=True)) for i in range(7)]
        assert jobs.started == []
    assert len(jobs.started) == 3
    one_turn(clock)
    assert len(jobs.started) == 6
    one_turn(clock)
    assert len(jobs.started) == 7 and all(d.called for d in results) and clock.getDelayedCalls() == []


def test_a_failing_job_fails_its_own_deferred_and_frees_its_slot():
    """An exception reaches the caller; the queue goes on with the next job."""
    clock, jobs = Clock(), Jobs()
    queue = BuildQueue(clock, concurrency=1)

    def broken():
        raise RuntimeError("boom")

    queue.run("busy", 0, jobs.job("busy"))
    failed = queue.run("broken", 0, broken)
    after = queue.run("after", 0, jobs.job("after"))
    jobs.finish("busy")
    clock.advance(0)
    clock.advance(0)
    assert isinstance(failed.result.value, RuntimeError) and failed.addErrback(lambda _: None)
    assert jobs.started[-1] == "after" and not after.called and queue.running == 1


def test_coroutine_jobs_run_like_deferred_ones():
    """A job may be a coroutine function (a widget build is one)."""
    queue = BuildQueue(Clock(), concurrency=1)

    async def build():
        return "built"

    assert queue.run("c", 0, build).result == "built"


def test_a_queue_needs_at_least_one_slot():
    """concurrency 0 would never build anything: refused at once."""
    with pytest.raises(ValueError):
        BuildQueue(Clock(), concurrency=0)
    with pytest.raises(ValueError):
        BuildQueue(Clock(), lane_capacity=0)


def test_a_services_builds_take_turns_in_its_own_lane_and_never_hold_the_main_slots():
    """Builds that fetch from a slow service run at most ``lane_capacity`` at once, beside the main lane's."""
    clock, jobs = Clock(), Jobs()
    queue = BuildQueue(clock, concurrency=2, lane_capacity=1, burst=10)
    with queue.batch():
        for name in ("b1", "b2", "b3"):
            queue.run(name, 9, jobs.job(name), lane="bodhi.example.org")
        for name in ("m1", "m2", "m3"):
            queue.run(name, 1, jobs.job(name))
    assert jobs.started == ["b1", "m1", "m2"]  # the service's lane is full after one; the main lane still runs
    assert queue.running == 3 and queue.waiting == 3
    jobs.finish("b1")
    one_turn(clock)
    assert jobs.started[-1] == "b2" and queue.most_running("bodhi.example.org") == 1
    jobs.finish("m1")
    one_turn(clock)
    assert jobs.started[-1] == "m3" and queue.most_running() == 2


def test_across_lanes_the_highest_priority_with_a_free_slot_starts_first():
    """A free slot in any lane goes to the most wanted job that may use it."""
    clock, jobs = Clock(), Jobs()
    queue = BuildQueue(clock, concurrency=1, lane_capacity=1, burst=10)
    queue.run("busy", 0, jobs.job("busy"))
    queue.run("service-busy", 0, jobs.job("service-busy"), lane="s")
    queue.run("low", 1, jobs.job("low"))
    queue.run("service-high", 5, jobs.job("service-high"), lane="s")
    queue.run("high", 3, jobs.job("high"))
    jobs.finish("busy")
    jobs.finish("service-busy")
    one_turn(clock)
    assert jobs.started[2:] == ["service-high", "high"]


class Timer:
    """A stopwatch the test moves by hand (the slices' budget is wall time in a running hub)."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_builds_work_within_a_turns_budget_and_the_rest_waits_for_later_turns_in_order():
    """Rendering and pushing take at most ``budget`` of a reactor turn; the rest goes on in later turns, in order."""
    clock, timer = Clock(), Timer()
    slices = TimeSlices(clock, budget=0.005, timer=timer)
    assert slices.turn() is None  # the turn's first piece of work starts at once
    timer.now += 0.003
    assert slices.turn() is None  # 3 ms spent: still within the budget
    timer.now += 0.003
    waits = [slices.turn() for _ in range(3)]  # 6 ms spent: the rest waits
    ran = []
    for n, d in enumerate(waits):
        d.addCallback(lambda _, n=n: (ran.append(n), setattr(timer, "now", timer.now + 0.003)))
    one_turn(clock)
    assert ran == [0, 1]  # the next turn: as many as its budget allows, first come first
    one_turn(clock)
    assert ran == [0, 1, 2] and slices.deferred == 3 and clock.getDelayedCalls() == []
    assert slices.turn() is None  # a new turn, a new budget


# ---------------------------------------------------------------- which hits are rebuilt

# (hits (idx, hub), streams here, fleet marks (None: unreadable), building, expected plan)
PLANS = [
    pytest.param([(1, "a"), (2, "b")], {}, {}, set(), RebuildPlan((), (1, 2)), id="nobody-views-anything"),
    pytest.param([(1, "a"), (2, "b")], {"b": 2}, {}, set(), RebuildPlan(((2, HERE + 2),), (1,)),
                 id="viewed-here-rebuilt-rest-invalidated"),
    pytest.param([(1, "a"), (2, "b")], {}, {"a": 3, "b": 0}, set(), RebuildPlan(((1, 3),), (2,)),
                 id="viewed-elsewhere-rebuilt"),
    pytest.param([(1, "a"), (2, "b")], {}, None, set(), RebuildPlan((), (1, 2)),
                 id="marks-unreadable-nobody-here-nothing-built"),
    pytest.param([(1, "a"), (2, "b"), (3, "c")], {"b": 1}, None, {3}, RebuildPlan(((2, HERE + 1), (3, 0)), (1,)),
                 id="marks-unreadable-only-this-processs-viewers-count"),
    pytest.param([(1, "a"), (2, "b"), (3, "c")], {"a": 1, "c": 5}, {"b": 9}, set(),
                 RebuildPlan(((3, HERE + 5), (1, HERE + 1), (2, 9)), ()), id="here-before-elsewhere-then-by-viewers"),
    pytest.param([(4, "a"), (5, "a"), (6, "a")], {"a": 2}, {}, set(), RebuildPlan(((4, HERE + 2), (5, HERE + 2),
                                                                                   (6, HERE + 2)), ()),
                 id="equal-viewers-keep-their-order"),
    pytest.param([(1, "a"), (2, "a")], {}, {}, {2}, RebuildPlan(((2, 0),), (1,)),
                 id="a-build-in-flight-is-built-once-more"),
    pytest.param([], {"a": 1}, {}, set(), RebuildPlan((), ()), id="no-hits"),
]


@pytest.mark.parametrize(("hits", "here", "marks", "building", "expected"), PLANS)
def test_hits_are_rebuilt_if_an_open_page_shows_them_else_invalidated(hits, here, marks, building, expected):
    """No viewer anywhere, no build; viewed here first, then by viewers; memcached unreadable: only the viewers
    here count (the other processes heard the message too, and decide for theirs)."""
    assert plan_rebuilds(hits, here, marks, building) == expected


@pytest.mark.parametrize(("value", "expected"), [(None, 0), (b"3", 3), (b"", 0), (b"x", 0)])
def test_a_mark_reads_as_the_streams_it_counts(value, expected):
    """Marks are ASCII counts; anything else is no mark."""
    assert parse_mark(value) == expected


def test_chunks_cover_every_item_in_order():
    """Chunks are consecutive slices; an empty list is one empty chunk."""
    assert chunks(list(range(5)), 2) == [[0, 1], [2, 3], [4]] and chunks([], 2) == [[]]


# ---------------------------------------------------------------- marks in memcached

def done(work):
    """The result of a call made inline (a plain cache answers at once)."""
    d = defer.ensureDeferred(work)
    assert d.called
    return d.result


def test_a_hub_marked_by_one_process_is_seen_by_another_until_the_mark_expires():
    """A process marks the hubs it has streams for; another reads the marks; they expire after the ttl."""
    clock = Clock()
    cache = FakeCache(clock)
    here = Viewers(cache, clock, lambda: {"designteam": 2}, ttl=30)
    other = Viewers(cache, clock, dict)
    here.hub_viewed("designteam")
    assert done(other.marks(["designteam", "ralph"])) == {"designteam": 2, "ralph": 0}
    clock.advance(31)
    assert done(other.marks(["designteam"])) == {"designteam": 0}
    assert cache.get(viewers_key("designteam")) is None


def test_the_first_hub_viewed_in_a_turn_is_marked_at_once_and_the_others_together_at_the_next():
    """A thousand streams opening at once cost a round trip per chunk of hubs, not one per hub."""
    clock = Clock()
    cache = FakeCache(clock)
    viewers = Viewers(cache, clock, lambda: {"a": 1, "b": 1, "c": 3})
    for hub in "abc":
        viewers.hub_viewed(hub)
    assert done(Viewers(cache, clock, dict).marks("abc")) == {"a": 1, "b": 0, "c": 0}
    clock.advance(0)
    assert done(Viewers(cache, clock, dict).marks("abc")) == {"a": 1, "b": 1, "c": 3}
    assert viewers.stats["marks_written"] == 3 and clock.getDelayedCalls() == []


def test_the_refresh_marks_every_viewed_hub_again_a_chunk_per_turn():
    """The loop re-marks all hubs with streams here, in chunks with a reactor turn between them."""
    clock = Clock()
    cache = FakeCache(clock)
    hubs = {f"hub{i}": 1 for i in range(5)}
    viewers = Viewers(cache, clock, lambda: hubs, chunk=2)
    d = defer.ensureDeferred(viewers.refresh())
    assert viewers.stats["marks_written"] == 2
    clock.advance(0)
    clock.advance(0)
    assert d.called and viewers.stats["marks_written"] == 5
    assert done(Viewers(cache, clock, dict).marks(hubs)) == hubs


def test_unreadable_marks_say_so_and_unwritable_marks_do_not_raise():
    """memcached down: marks() answers None (the caller assumes viewed); mark() answers False."""
    clock = Clock()
    cache = FakeCache(clock)
    viewers = Viewers(cache, clock, lambda: {"a": 1})
    cache.fail = CacheUnavailable("down")
    assert done(viewers.marks(["a"])) is None and done(viewers.mark({"a": 1})) is False
    assert done(viewers.marks([])) == {}  # nothing to ask: no call
