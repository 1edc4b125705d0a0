"""hubs.logsafe: outside values in log lines are quoted, escaped and bounded."""

import pytest

from hubs.logsafe import clean, quote

# (value, limit, expected)
QUOTED = [
    ("org.fedoraproject.prod.x", 200, "'org.fedoraproject.prod.x'"),
    ("id\n2026-12-01 [hubs CRITICAL] forged", 200, "'id\\n2026-12-01 [hubs CRITICAL] forged'"),
    ("tab\tcr\r", 200, "'tab\\tcr\\r'"),
    ("\x1b[31mred\u2028", 200, "'\\x1b[31mred\\u2028'"),
    (b"\x00bytes", 200, "b'\\x00bytes'"),
    ("x" * 1000, 10, "'xxxxxxxxx…(+992)"),  # what was cut, closing quote included
    (None, 200, "None"),
    (42, 200, "42"),
    ({"k": "v\n"}, 200, "{'k': 'v\\n'}"),
]


@pytest.mark.parametrize(("value", "limit", "expected"), QUOTED)
def test_quote_shows_a_value_on_one_bounded_line(value, limit, expected):
    """Strings and bytes come quoted with every newline and control character escaped, cut at the limit."""
    assert quote(value, limit) == expected


def test_quote_of_a_huge_value_costs_only_its_limit():
    """A 50 MB string is sliced before it is shown; a list of a million items is shown by its first items."""
    assert len(quote("A" * 50_000_000)) < 220
    assert len(quote(list(range(1_000_000)), 100)) < 120


def test_quote_never_raises():
    """A value whose repr raises is still shown by its type."""

    class Broken:
        def __repr__(self):
            raise RuntimeError("no")

    assert "Broken" in quote(Broken())


@pytest.mark.parametrize(("text", "limit", "expected"), [
    ("ValueError: no\nthanks", 300, "ValueError: no\\nthanks"),
    ("plain", 300, "plain"),
    ("y" * 50, 5, "yyyyy…(+45)"),
])
def test_clean_puts_free_text_on_one_bounded_line(text, limit, expected):
    """Free text is not quoted, only escaped and bounded."""
    assert clean(text, limit) == expected
