"""Which hubs a query can match, without reading every hub: each hub's name and summary split into words once,
and the hubs that hold each word (no I/O).

It answers as ``hub_matches`` (the search's rule for hubs) does — a table of queries holds the two to the same
answers — but from sets of names, so ``q`` over thousands of hubs costs a few set operations, not a test of
every hub. It follows the directory by comparing hub records (a changed record is split again), at most once
per change of the hubs.
"""

from __future__ import annotations

from collections.abc import Mapping

from hubs.models import Hub
from hubs.search.directory import hub_text
from hubs.search.query import Query


def _one_token(needle: str) -> bool:
    """A query a hub's name is searched for as a part ("design" finds "designteam"), as ``hub_matches`` does."""
    return len(needle) >= 2 and not any(c.isspace() or c == '"' for c in needle) and needle[0] != "-"


class HubWords:
    """Each hub's words, and the hubs of each word."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[Hub, tuple[str, list[str]]]] = {}
        self._by_word: dict[str, set[str]] = {}
        self._lower_names: dict[str, str] = {}
        self._joined: dict[str, str] = {}  # " word word … ": a phrase is a part of it

    def sync(self, hubs: Mapping[str, Hub]) -> int:
        """Split again the hubs whose record changed, forget the hubs gone; how many were split."""
        split = 0
        for name, hub in hubs.items():
            held = self._held.get(name)
            if held is None or held[0] is not hub:
                self._forget(name)
                text = hub_text(hub)
                self._held[name] = (hub, text)
                self._joined[name] = f" {' '.join(text[1])} "
                self._lower_names[name] = name.lower()
                for word in set(text[1]):
                    self._by_word.setdefault(word, set()).add(name)
                split += 1
        for name in [n for n in self._held if n not in hubs]:
            self._forget(name)
        return split

    def _forget(self, name: str) -> None:
        held = self._held.pop(name, None)
        self._lower_names.pop(name, None)
        self._joined.pop(name, None)
        if held is None:
            return
        for word in set(held[1][1]):
            names = self._by_word.get(word)
            if names is not None:
                names.discard(name)
                if not names:
                    del self._by_word[word]

    def _by_name_or_text(self, query: Query) -> set[str]:
        """Hubs whose name is the query or holds it as a part, or whose text holds its substring (exact)."""
        needle = query.text.lower()
        found: set[str] = set()
        if _one_token(needle):
            found |= {name for name, lower in self._lower_names.items() if needle in lower}
        elif needle:
            found |= {name for name, lower in self._lower_names.items() if lower == needle}
        if query.substring is not None:
            found |= {name for name, (_, (lowered, _)) in self._held.items() if query.substring in lowered}
        return found

    def _by_words(self, query: Query) -> set[str]:
        """Hubs whose words satisfy every group of the query: exact for one-word terms, a superset with phrases
        (a phrase is looked up by its first word)."""
        terms = [t for group in query.groups for t in group]
        if not terms or all(t.negated for t in terms):
            return set()  # PostgreSQL matches nothing by words for a query of exclusions only (hub_matches too)
        everyone = set(self._held)
        narrowed: set[str] | None = None
        for group in query.groups:  # all groups (AND), each any of its terms (OR)
            either: set[str] = set()
            for term in group:
                holders = self._by_word.get(term.words[0], set())
                if not term.negated:
                    either |= holders
                else:
                    either |= everyone - holders if len(term.words) == 1 else everyone
            narrowed = either if narrowed is None else narrowed & either
        return narrowed or set()

    def candidates(self, query: Query) -> set[str]:
        """The hubs that can match ``query`` (a superset of those that do)."""
        return self._by_name_or_text(query) | self._by_words(query)

    def matching(self, query: Query) -> set[str]:
        """The hubs whose name or summary matches ``query``, as ``hub_matches`` judges (a test holds the two
        to the same answers): one-word terms are answered by the index; a phrase is then looked for in the
        words of the hubs holding its first word."""
        if query.empty:
            return set(self._held)
        by_words = self._by_words(query)
        if any(len(t.words) > 1 for group in query.groups for t in group):
            groups = [[(f" {' '.join(t.words)} ", t.negated) for t in group] for group in query.groups]
            by_words = {name for name in by_words
                        if all(any((phrase in self._joined[name]) != negated for phrase, negated in group)
                               for group in groups)}
        return self._by_name_or_text(query) | by_words
