"""The seen-ids LRU: a message bridged onto both buses is handled once."""

import pytest

from hubs.bus.dedupe import SeenIds

# (capacity, ids offered in order, what first_time answers for each)
CASES = [
    (3, ["a", "b", "a"], [True, True, False]),
    (3, ["a", "b", "c", "d", "a"], [True, True, True, True, True]),      # "a" was the oldest, forgotten
    (3, ["a", "b", "c", "a", "d", "a"], [True, True, True, False, True, False]),  # a repeat refreshes "a"
    (3, ["a", "b", "c", "a", "d", "b"], [True, True, True, False, True, True]),   # so "b" went instead
    (1, ["a", "a", "b", "a"], [True, False, True, True]),
    (5, ["", "", "x", "x"], [True, True, True, False]),                  # no id: cannot be a repeat
]


@pytest.mark.parametrize(("capacity", "ids", "answers"), CASES)
def test_first_time(capacity, ids, answers):
    """Repeats within the window are refused; the least recently seen id is forgotten first."""
    seen = SeenIds(capacity)
    assert [seen.first_time(i) for i in ids] == answers
    assert len(seen) <= capacity
    assert seen.duplicates == answers.count(False)


def test_memory_is_bounded():
    """However many ids go by, at most ``capacity`` are kept."""
    seen = SeenIds(100)
    for n in range(10_000):
        seen.first_time(f"id-{n}")
    assert len(seen) == 100 and "id-9999" in seen and "id-9899" not in seen


def test_capacity_must_be_positive():
    """A zero-sized window is a configuration mistake, not a silent no-op."""
    with pytest.raises(ValueError):
        SeenIds(0)
