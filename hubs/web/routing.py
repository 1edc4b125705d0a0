"""werkzeug's route matching, remembered: the same path and method find the same route.

Every request walks werkzeug's state machine over all the site's rules (the
composed map has dozens; a widget's ``/<hub>/<int:idx>/json`` tries each
dynamic rule's regular expression at every level): ~10 % of a warm widget
read's time. The answer for a given (domain, path, method) never changes while
the rules do not, so successful matches are kept, a bounded number of them
(the oldest forgotten first: a flood of made-up paths costs what it did before,
never memory; a path longer than ``MAX_PATH`` is matched but not kept, so the kept answers hold at most
``MAX_REMEMBERED × MAX_PATH`` characters whatever the request lines).
Failures (404, 405, redirects) are not kept; they raise as before.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing.matcher import StateMachineMatcher

MAX_REMEMBERED = 4096
MAX_PATH = 512  # longer paths (none of Hubs' own) are matched every time


class RememberingMatcher(StateMachineMatcher):
    """werkzeug's matcher with its successful answers kept (at most ``limit``, oldest dropped first)."""

    def __init__(self, merge_slashes: bool, limit: int = MAX_REMEMBERED) -> None:
        super().__init__(merge_slashes)
        self.limit = limit
        self._known: dict[tuple[str, str, str, bool], tuple[Any, dict[str, Any]]] = {}

    def add(self, rule) -> None:
        self._known.clear()  # a new rule may answer differently
        super().add(rule)

    def update(self) -> None:
        self._known.clear()
        super().update()

    def match(self, domain: str, path: str, method: str, websocket: bool) -> tuple[Any, dict[str, Any]]:
        key = (domain, path, method, websocket)
        known = self._known.get(key)
        if known is None:
            known = super().match(domain, path, method, websocket)  # raises for no match, as before
            if len(path) > MAX_PATH or len(domain) > MAX_PATH:
                return known[0], dict(known[1])
            if len(self._known) >= self.limit:
                del self._known[next(iter(self._known))]
            self._known[key] = known
        return known[0], dict(known[1])  # the caller may change its copy of the values


def remember_matches(url_map) -> None:
    """Give a werkzeug ``Map`` that has no rules yet a remembering matcher."""
    if any(True for _ in url_map.iter_rules()):
        raise ValueError("remember_matches needs a map without rules")
    url_map._matcher = RememberingMatcher(url_map.merge_slashes)
