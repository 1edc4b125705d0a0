"""Cache keys: canonical config form and no accidental sharing between widgets."""

import pytest

from hubs.build.cache import cache_key, canonical_config


@pytest.mark.parametrize(("a", "b"), [
    ({"a": 1, "b": 2}, {"b": 2, "a": 1}),
    ({"x": {"k": 1, "j": [1, 2]}}, {"x": {"j": [1, 2], "k": 1}}),
    ({"text": "é"}, {"text": "\u00e9"}),
])
def test_equal_configs_share_a_canonical_form(a, b):
    """Key order and escaping do not change the canonical form."""
    assert canonical_config(a) == canonical_config(b)
    assert cache_key(1, "sticky", a) == cache_key(1, "sticky", b)


@pytest.mark.parametrize(("left", "right"), [
    ((1, "sticky", {"text": "a"}), (2, "sticky", {"text": "a"})),   # same config, other widget
    ((1, "sticky", {"text": "a"}), (1, "about", {"text": "a"})),    # other plugin
    ((1, "sticky", {"text": "a"}), (1, "sticky", {"text": "b"})),   # other config
    ((1, "sticky", {"n": 1}), (1, "sticky", {"n": "1"})),           # other type
    ((1, "sticky", {"a": [1, 2]}), (1, "sticky", {"a": [2, 1]})),   # list order matters
    ((12, "sticky", {}), (1, "sticky", {"2": 1})),                  # no concatenation ambiguity
])
def test_different_widgets_or_configs_never_share_a_key(left, right):
    """The prototype's bug: two widgets must never read each other's data."""
    assert cache_key(*left) != cache_key(*right)


def test_code_hash_changes_the_key():
    """A new widget template or module moves its data to a new key."""
    assert cache_key(1, "sticky", {}, code="v1") != cache_key(1, "sticky", {}, code="v2")


def test_keys_are_valid_memcached_keys():
    """memcached keys: at most 250 bytes, no spaces or control characters."""
    key = cache_key(10**9, "a_plugin_name", {"text": "x y\nz" * 10000})
    assert len(key.encode()) <= 250
    assert not any(c.isspace() or ord(c) < 33 for c in key)
