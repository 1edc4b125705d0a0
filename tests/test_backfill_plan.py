"""What a backfill does next (hubs.history.plan): windows, splits, progress and requests, from tables of cases."""

import pytest

from hubs.history.plan import (
    Job,
    Request,
    Window,
    effective_since,
    percent_done,
    plan_request,
    plan_windows,
    split_window,
)

DAY = 86400.0


@pytest.mark.parametrize(("reached", "until", "size", "expected"), [
    # nothing left
    (100.0, 100.0, 10.0, []),
    (120.0, 100.0, 10.0, []),
    # aligned: whole windows
    (0.0, 30.0, 10.0, [(0, 10), (10, 20), (20, 30)]),
    # unaligned start: the first window runs to the next boundary, the last stops at until
    (5.0, 27.0, 10.0, [(5, 10), (10, 20), (20, 27)]),
    # shorter than a window
    (3.0, 7.0, 10.0, [(3, 7)]),
    # a resumed walk asks the same windows as the walk it resumes (boundaries on multiples of the size)
    (10.0, 27.0, 10.0, [(10, 20), (20, 27)]),
    # days
    (0.5 * DAY, 2.25 * DAY, DAY, [(0.5 * DAY, DAY), (DAY, 2 * DAY), (2 * DAY, 2.25 * DAY)]),
])
def test_windows_ascend_from_where_the_walk_got(reached, until, size, expected):
    """Windows run oldest first from ``reached`` to ``until``, never longer than the window size."""
    assert plan_windows(reached, until, size) == [Window(a, b) for a, b in expected]


def test_a_window_size_must_be_positive():
    """A zero window would never end."""
    with pytest.raises(ValueError):
        plan_windows(0, 10, 0)


@pytest.mark.parametrize(("window", "pages", "max_pages", "expected"), [
    # few enough pages: walked as it is
    ((0, 3600), 1, 10, [(0, 3600)]),
    ((0, 3600), 10, 10, [(0, 3600)]),
    ((0, 3600), 0, 10, [(0, 3600)]),
    # too many: split into ceil(pages / max_pages) equal parts, in order
    ((0, 3600), 11, 10, [(0, 1800), (1800, 3600)]),
    ((0, 3600), 40, 10, [(0, 900), (900, 1800), (1800, 2700), (2700, 3600)]),
    # never shorter than a minute: a minute that full is paged through
    ((0, 60), 500, 10, [(0, 60)]),
    ((0, 120), 500, 10, [(0, 60), (60, 120)]),
])
def test_a_window_too_full_is_split(window, pages, max_pages, expected):
    """A window whose first page says it has more than ``max_pages`` pages becomes smaller ones."""
    assert split_window(Window(*window), pages, max_pages) == [Window(a, b) for a, b in expected]


@pytest.mark.parametrize(("since", "until", "reached", "status", "expected"), [
    (0, 100, 0, "queued", 0),
    (0, 100, 40, "running", 40),
    (0, 100, 40.9, "running", 40),
    (0, 100, 100, "running", 99),  # all windows stored, not yet marked done
    (0, 100, 100, "done", 100),
    (0, 100, 30, "done", 100),
    (0, 100, 55, "failed", 55),
    (0, 100, -5, "running", 0),
    (0, 100, 500, "failed", 100),
    (100, 100, 100, "queued", 100),  # nothing to do
])
def test_percent_done(since, until, reached, status, expected):
    """How far a backfill got, as the Activity widget says it."""
    assert percent_done(since, until, reached, status) == expected


def job(status, since=1000.0, until=2000.0, reached=1500.0):
    return Job("person", "mizmo", since, until, reached, status)


@pytest.mark.parametrize(("existing", "since", "until", "expected"), [
    # no job yet: the whole range
    (None, 1000, 3000, Request("start", 1000, 3000, 1000)),
    # one at a time per target: an open job is kept as it is
    (job("queued"), 1000, 3000, Request("keep")),
    (job("running"), 500, 3000, Request("keep")),
    # a finished job covered back far enough: only what came after it
    (job("done"), 1000, 3000, Request("start", 1000, 3000, 2000)),
    (job("done"), 1500, 3000, Request("start", 1500, 3000, 2000)),
    # ... and nothing at all if it ended later than what is asked
    (job("done", until=4000), 1000, 3000, Request("start", 1000, 3000, 3000)),
    # a finished job that did not reach back far enough: the whole range again (stored messages are skipped)
    (job("done"), 500, 3000, Request("start", 500, 3000, 500)),
    # a failed job resumes from where it got
    (job("failed"), 1000, 3000, Request("start", 1000, 3000, 1500)),
    (job("failed"), 800, 3000, Request("start", 800, 3000, 800)),
])
def test_asking_for_a_backfill(existing, since, until, expected):
    """What a request does to the target's job: start a walk (from where), or keep the open one."""
    assert plan_request(existing, since, until) == expected


@pytest.mark.parametrize(("days", "max_age", "expected_days"), [(90, 120, 90), (90, 30, 30), (7, 120, 7)])
def test_a_backfill_never_fetches_what_retention_drops(days, max_age, expected_days):
    """The oldest moment fetched is ``days`` back, but never older than the store keeps."""
    assert effective_since(100 * DAY, days, max_age) == 100 * DAY - expected_days * DAY
