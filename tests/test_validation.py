"""Widget arguments: defaults, validators and error reporting."""

import pytest

from hubs.widgets import load_registry
from hubs.widgets.base import InvalidConfig, boolean, integer, links, text, url, username, validate_config

REGISTRY = load_registry()

VALIDATOR_CASES = [
    # (validator, input, expected output or ValueError)
    (text(5), " abc ", "abc"),
    (text(5), "abcdef", ValueError),
    (text(5), 3, ValueError),
    (text(5, required=True), "  ", ValueError),
    (integer(1, 10), 5, 5),
    (integer(1, 10), "7", 7),
    (integer(1, 10), 0, ValueError),
    (integer(1, 10), True, ValueError),
    (integer(1, 10), "seven", ValueError),
    (boolean, True, True),
    (boolean, "false", False),
    (boolean, "yes", ValueError),
    (username, "ralph", "ralph"),
    (username, "Ralph Bean", ValueError),
    (username, "../etc", ValueError),
    (url, "https://pagure.io/design", "https://pagure.io/design"),
    (url, "javascript:alert(1)", ValueError),
    (url, "ftp://example.org", ValueError),
    (links(2), [{"title": "a", "url": "https://a.example"}], [{"title": "a", "url": "https://a.example"}]),
    (links(2), [{"title": "a", "url": "javascript:x"}], ValueError),
    (links(2), [{"title": "a"}], ValueError),
    (links(1), [{"title": "a", "url": "https://a.example"}] * 2, ValueError),
    (links(2), "not a list", ValueError),
]


@pytest.mark.parametrize(("validator", "value", "expected"), VALIDATOR_CASES)
def test_validators(validator, value, expected):
    """Each validator cleans good values and refuses bad ones with ValueError."""
    if expected is ValueError:
        with pytest.raises(ValueError):
            validator(value)
    else:
        assert validator(value) == expected


VALID_CONFIGS = [
    # (plugin, raw config, cleaned config)
    ("sticky", {}, {"text": "Owners can pin a note here."}),
    ("sticky", {"text": "hi"}, {"text": "hi"}),
    ("stats", {"show_stargazers": "false"}, {"show_stargazers": False}),
    ("rules", {"links": [{"title": "t", "url": "https://x.example"}], "schedule": "Mondays"},
     {"links": [{"title": "t", "url": "https://x.example"}], "schedule": "Mondays", "show_owners": True}),
]

INVALID_CONFIGS = [
    # (plugin, raw config, {field: fragment of its error})
    ("sticky", {"text": ""}, {"text": "must not be empty"}),
    ("sticky", {"text": "x", "color": "red"}, {"color": "unknown argument"}),
    ("dummy", {"color": "pink"}, {"color": "must be one of"}),
    ("dummy", {"topic": "has space"}, {"topic": "short topic"}),
    ("stats", {"show_stargazers": "maybe"}, {"show_stargazers": "true or false"}),
    ("rules", {"links": "x", "schedule": 5}, {"links": "list", "schedule": "text"}),
]


@pytest.mark.parametrize(("plugin", "raw", "expected"), VALID_CONFIGS)
def test_valid_configs_are_cleaned_and_filled(plugin, raw, expected):
    """Valid configs come back cleaned, with defaults for what is missing."""
    assert REGISTRY[plugin].validate(raw) == expected


@pytest.mark.parametrize(("plugin", "raw", "errors"), INVALID_CONFIGS)
def test_invalid_configs_name_their_fields(plugin, raw, errors):
    """Unknown keys and bad values are refused, each error naming its field."""
    with pytest.raises(InvalidConfig) as info:
        REGISTRY[plugin].validate(raw)
    assert set(info.value.errors) == set(errors)
    for field, fragment in errors.items():
        assert fragment in info.value.errors[field]


def test_all_errors_are_reported_together():
    """A config with several problems reports each of them at once."""
    with pytest.raises(InvalidConfig) as info:
        validate_config(REGISTRY["dummy"].arguments, {"color": "pink", "text": 1, "nope": 2})
    assert set(info.value.errors) == {"color", "text", "nope"}


@pytest.mark.parametrize("raw", [None, [], "text", 3])
def test_config_must_be_an_object(raw):
    """Anything but a JSON object is refused."""
    with pytest.raises(InvalidConfig) as info:
        validate_config(REGISTRY["sticky"].arguments, raw)
    assert "config" in info.value.errors
