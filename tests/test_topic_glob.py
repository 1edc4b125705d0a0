"""Topic globs (hubs/stream/model.py topic_matches, pure): ``*`` is any run of characters, nothing else is special;
a person's mute is checked against every message in the reactor, so no pattern may take more than linear-ish time."""

from __future__ import annotations

import pytest

from hubs.stream.model import topic_matches

T = "org.fedoraproject.prod.buildsys.build.state.change"

CASES = [
    # (topic, pattern, matches)
    (T, T, True),
    (T, "*", True),
    (T, "*.buildsys.*", True),
    (T, "org.fedoraproject.prod.buildsys.*", True),
    (T, "*.change", True),
    (T, "*.chang", False),
    (T, "org.*.build.*.change", True),
    (T, "org.*.bodhi.*", False),
    (T, "buildsys", False),
    (T, "org.fedoraproject.prod.buildsys.build.state.change.*", False),
    (T, "org.fedoraproject.prod.buildsys.build.state.change*", True),
    (T, "**", True),
    (T, "o*o", False),
    (T, "o*e", True),
    ("ab", "a*b*", True),
    ("ab", "a*ab", False),  # the parts may not overlap
    ("aXbXc", "*X*X*", True),
    ("aXb", "*X*X*", False),
    ("", "*", True),
    ("", "", True),
    ("a", "", False),
    ("a.b", "a?b", False),  # ? and regular expressions are plain characters
    ("a?b", "a?b", True),
    ("a.b", "a[.]b", False),
    ("a\nb", "a*b", True),
    # hostile: eight or more stars took seconds to hours in a backtracking regular expression
    ("org.fedoraproject.prod." + "a" * 40, "*a" * 8 + "*b", False),
    ("org.fedoraproject.prod." + "a" * 60, "*a" * 99 + "*b", False),
    ("a" * 150, "*a" * 99 + "*", True),
]


@pytest.mark.parametrize(("topic", "pattern", "expected"), CASES)
def test_topic_globs(topic, pattern, expected):
    assert topic_matches(topic, pattern) is expected
