"""Remembered route matches (hubs/web/routing.py): the same answers as werkzeug's own matcher, bounded."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.routing.exceptions import RequestRedirect

from hubs.web.common import HubsKlein
from hubs.web.routing import MAX_PATH, RememberingMatcher, remember_matches
from hubs.web.site import HubsWeb

RULES = [
    Rule("/<hub>", endpoint="page", methods=["GET", "HEAD"]),
    Rule("/<hub>/<int:idx>/json", endpoint="widget", methods=["GET"]),
    Rule("/<hub>/<int:idx>/config", endpoint="config_get", methods=["GET"]),
    Rule("/<hub>/<int:idx>/config", endpoint="config_post", methods=["POST"]),
    Rule("/static/<path:name>", endpoint="static"),
    Rule("/search/", endpoint="search"),
]


def maps(limit: int = 4096) -> tuple[Map, Map]:
    """werkzeug's plain map and one with a remembering matcher, the same rules in each."""
    plain, remembering = Map(), Map()
    remembering._matcher = RememberingMatcher(remembering.merge_slashes, limit)
    for rule in RULES:
        plain.add(rule.empty())
        remembering.add(rule.empty())
    return plain, remembering


def answer(url_map: Map, path: str, method: str):
    """What matching says: (endpoint, values) or the exception's type and (for redirects) where to."""
    adapter = url_map.bind("hubs.test", "/", path_info=path, default_method=method)
    try:
        rule, values = adapter.match(return_rule=True)
        return rule.endpoint, values
    except RequestRedirect as e:
        return RequestRedirect, e.new_url
    except (NotFound, MethodNotAllowed) as e:
        methods = getattr(e, "valid_methods", None)
        return type(e), sorted(methods) if methods else None  # werkzeug's order is a set's


CASES = [
    ("/designteam", "GET", ("page", {"hub": "designteam"})),
    ("/designteam", "HEAD", ("page", {"hub": "designteam"})),
    ("/designteam/3/json", "GET", ("widget", {"hub": "designteam", "idx": 3})),
    ("/designteam/3/config", "GET", ("config_get", {"hub": "designteam", "idx": 3})),
    ("/designteam/3/config", "POST", ("config_post", {"hub": "designteam", "idx": 3})),
    ("/designteam/3/config", "DELETE", (MethodNotAllowed, ["GET", "HEAD", "POST"])),
    ("/designteam/x/json", "GET", (NotFound, None)),
    ("/designteam/3/json", "POST", (MethodNotAllowed, ["GET", "HEAD"])),
    ("/static/a/b.css", "GET", ("static", {"name": "a/b.css"})),
    ("/search", "GET", (RequestRedirect, "http://hubs.test/search/")),
    ("/a/b/c/d", "GET", (NotFound, None)),
]


@pytest.mark.parametrize(("path", "method", "expected"), CASES)
def test_the_same_answer_as_werkzeug_first_and_every_time_after(path, method, expected):
    """Asked three times, the remembering map answers what werkzeug's own matcher answers."""
    plain, remembering = maps()
    assert answer(plain, path, method) == expected
    for _ in range(3):
        assert answer(remembering, path, method) == expected


def test_only_successful_matches_are_kept():
    plain, remembering = maps()
    for path, method, _ in CASES:
        answer(remembering, path, method)
    kept = {(path, method) for _, path, method, _ in remembering._matcher._known}
    assert kept == {(p, m) for p, m, e in CASES if isinstance(e[0], str)}


def test_a_caller_changing_its_values_does_not_change_the_next_answer():
    _, remembering = maps()
    adapter = remembering.bind("hubs.test", "/", path_info="/designteam/3/json")
    adapter.match(return_rule=True)[1]["idx"] = 99
    assert answer(remembering, "/designteam/3/json", "GET") == ("widget", {"hub": "designteam", "idx": 3})


def test_at_most_limit_answers_kept_the_oldest_forgotten_first():
    _, remembering = maps(limit=3)
    for i in range(5):
        answer(remembering, f"/hub{i}", "GET")
    assert [path for _, path, _, _ in remembering._matcher._known] == ["/hub2", "/hub3", "/hub4"]
    assert answer(remembering, "/hub0", "GET") == ("page", {"hub": "hub0"})  # forgotten: matched again


def test_a_rule_added_later_is_found():
    """Adding a rule forgets what was remembered: a path it now matches first answers with it."""
    _, remembering = maps()
    assert answer(remembering, "/healthz", "GET") == ("page", {"hub": "healthz"})
    remembering.add(Rule("/healthz", endpoint="health"))
    assert answer(remembering, "/healthz", "GET") == ("health", {})


def test_only_an_empty_map_gets_one():
    url_map = Map([Rule("/x", endpoint="x")])
    with pytest.raises(ValueError, match="without rules"):
        remember_matches(url_map)


def test_the_site_and_every_hubs_klein_remember():
    assert isinstance(HubsKlein()._url_map._matcher, RememberingMatcher)
    assert isinstance(HubsWeb.app._url_map._matcher, RememberingMatcher)


def test_a_long_path_is_answered_but_not_kept():
    """A made-up path of kilobytes still matches, but is not remembered: a flood of them cannot hold
    limit × the longest request line of memory (4096 × 16 KiB, twice over with the values)."""
    _, remembering = maps()
    hub = "h" * (MAX_PATH + 1)
    assert answer(remembering, f"/{hub}", "GET") == ("page", {"hub": hub})
    assert answer(remembering, "/" + "h" * (MAX_PATH - 1), "GET")[0] == "page"
    assert [path for _, path, _, _ in remembering._matcher._known] == ["/" + "h" * (MAX_PATH - 1)]
