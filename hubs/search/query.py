"""What a search asks for, read once (pure): the words, the filters, and the safe highlight of a result.

A query is read as PostgreSQL's ``websearch_to_tsquery('simple', q)`` reads it: words are all required,
``"a phrase"`` keeps its words together, ``or`` between two terms accepts either, ``-word`` excludes.
Messages are matched by PostgreSQL itself; this reading serves the in-process search of hubs, people and
widget texts and the in-memory store of the tests. A query that is one token of three or more characters
with a digit or a sign in it (a package name such as ``python3-gimp`` or ``pymemcache-8.11``, an NVR such as
``gimp-1.0-1.fc43``) is also looked up as a substring, which word search splits badly; a plain word is
found as a word only (a substring test of every row would make common words slow).
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from html import escape

MAX_QUERY = 200  # characters
MAX_LIMIT = 100
HIGHLIGHT_START, HIGHLIGHT_STOP = "\x01", "\x02"  # what ts_headline is told to put around a match
_WORD = re.compile(r"[^\W_]+|_+", re.UNICODE)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~:@-]{0,99}$")  # a username, hub, package or category


class SearchError(ValueError):
    """A query or filter that cannot be read; its message says what is wrong (a 400)."""


@dataclass(frozen=True)
class Term:
    """One alternative: a word or a phrase (its words in order), maybe excluded."""

    words: tuple[str, ...]
    negated: bool = False


@dataclass(frozen=True)
class Query:
    """A search: ``groups`` must all match (AND); a group matches if any of its terms does (OR)."""

    text: str
    groups: tuple[tuple[Term, ...], ...] = ()
    substring: str | None = None
    service: str | None = None
    person: str | None = None
    package: str | None = None
    hub: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 50
    before: tuple[float, int] | None = None
    people: tuple[str, ...] | None = field(default=None, compare=False)  # a hub's people, filled in by the site

    @property
    def empty(self) -> bool:
        return not self.groups and self.substring is None

    @property
    def filtered(self) -> bool:
        return any(v is not None for v in (self.service, self.person, self.package, self.hub, self.since,
                                           self.until))


def words(text: str) -> list[str]:
    """The lowercase words of a text, as the fake and the in-process search split them."""
    return [w.lower() for w in _WORD.findall(text)]


def _terms(text: str) -> list[tuple[str, str]]:
    """Tokens of websearch syntax: ("phrase", text), ("or", ""), ("not", "") and ("word", text)."""
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c == '"':
            end = text.find('"', i + 1)
            end = len(text) if end < 0 else end
            out.append(("phrase", text[i + 1:end]))
            i = end + 1
        elif c == "-" and (not out or text[i - 1].isspace() or i == 0):
            out.append(("not", ""))
            i += 1
        else:
            end = i
            while end < len(text) and not text[end].isspace() and text[end] != '"':
                end += 1
            token = text[i:end]
            out.append(("or", "") if token.lower() == "or" else ("word", token))
            i = end
    return out


def parse_groups(text: str) -> tuple[tuple[Term, ...], ...]:
    """The AND of ORs a websearch query means (pure); tokens without a word in them are ignored."""
    groups: list[list[Term]] = []
    negate, join = False, False
    for kind, value in _terms(text):
        if kind == "not":
            negate = True
            continue
        if kind == "or":
            join = bool(groups)
            continue
        found = tuple(words(value))
        if not found:
            negate = False
            continue
        term = Term(found, negate)
        if join and groups:
            groups[-1].append(term)
        else:
            groups.append([term])
        negate, join = False, False
    return tuple(tuple(g) for g in groups)


def _time(name: str, value: str) -> float:
    try:
        day = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        raise SearchError(f"{name} must be a date or time such as 2026-11-30 or 2026-11-30T12:00Z") from None
    if day.tzinfo is None:
        day = day.replace(tzinfo=datetime.UTC)
    return day.timestamp()


def _name(key: str, value: str | None) -> str | None:
    if value is None or value == "":
        return None
    if not _NAME.match(value):
        raise SearchError(f"{key} must be a name (letters, digits and . _ + ~ : @ -, at most 100)")
    return value


def parse_query(args: dict[str, str | None]) -> Query:
    """Read a search from its parameters (pure): ``q`` and the filters; SearchError says what is wrong."""
    text = (args.get("q") or "").strip()
    if len(text) > MAX_QUERY:
        raise SearchError(f"q must be at most {MAX_QUERY} characters")
    if any(c < " " or "\ud800" <= c <= "\udfff" for c in text):
        raise SearchError("q must not contain control characters")
    since = _time("since", args["since"]) if args.get("since") else None
    until = _time("until", args["until"]) if args.get("until") else None
    if since is not None and until is not None and until < since:
        raise SearchError("until must not be before since")
    limit = args.get("limit")
    if limit is not None and limit != "":
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            raise SearchError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    before = None
    if args.get("before"):
        try:
            ts, idx = args["before"].split(":", 1)
            before = (float(ts), int(idx))
        except ValueError:
            raise SearchError("before must be the cursor a previous answer gave (time:id)") from None
        if not (0 <= before[0] < 1e11 and 0 <= before[1] < 2**63):
            raise SearchError("before must be the cursor a previous answer gave (time:id)")
    token = text if text and not any(c.isspace() or c == '"' for c in text) and not text.startswith("-") else ""
    query = Query(text=text, groups=parse_groups(text),
                  substring=token.lower() if len(token) >= 3 and not token.isalpha() else None,
                  service=_name("service", args.get("service")), person=_name("person", args.get("person")),
                  package=_name("package", args.get("package")), hub=_name("hub", args.get("hub")),
                  since=since, until=until, limit=int(limit) if limit else 50, before=before)
    if query.empty and not query.filtered:
        raise SearchError("say what to look for: q (words, \"a phrase\", or, -word) or a filter")
    return query


def _has(haystack: list[str], needle: tuple[str, ...]) -> bool:
    n = len(needle)
    return any(tuple(haystack[i:i + n]) == needle for i in range(len(haystack) - n + 1))


def matches(query: Query, text: str) -> bool:
    """Whether a text matches the query's words, or holds its substring (pure; what the fake store does)."""
    if query.empty:
        return True
    return matches_split(query, text.lower(), words(text))


def matches_split(query: Query, lowered: str, found: list[str]) -> bool:
    """``matches`` of a text already lowercased and split into ``words`` (for a caller that asks of many texts
    many times: the list of hubs splits each hub's once)."""
    if query.empty:
        return True
    if query.substring is not None and query.substring in lowered:
        return True
    if not query.groups or all(t.negated for g in query.groups for t in g):
        return False  # PostgreSQL matches nothing for a query of exclusions only
    return all(any(_has(found, t.words) != t.negated for t in group) for group in query.groups)


def wanted_words(query: Query) -> set[str]:
    return {w for g in query.groups for t in g if not t.negated for w in t.words}


def mark(query: Query, text: str) -> str:
    """A text with the query's words and substring between highlight marks (pure; ts_headline's work)."""
    want = wanted_words(query)
    spans: list[tuple[int, int]] = [(m.start(), m.end()) for m in _WORD.finditer(text) if m.group().lower() in want]
    if query.substring:
        low, at = text.lower(), 0
        while (at := low.find(query.substring, at)) >= 0:
            spans.append((at, at + len(query.substring)))
            at += len(query.substring)
    return _with_marks(text, spans)


def _with_marks(text: str, spans: list[tuple[int, int]]) -> str:
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, at = [], 0
    for start, end in merged:
        out += [text[at:start], HIGHLIGHT_START, text[start:end], HIGHLIGHT_STOP]
        at = end
    out.append(text[at:])
    return "".join(out)


def highlight_html(marked: str, query: Query | None = None) -> str:
    """HTML of a text with highlight marks (pure): everything escaped, each mark a ``<mark>``. A text that
    came back from ts_headline without a mark (a substring match) is marked here."""
    if query is not None and HIGHLIGHT_START not in marked and query.substring:
        marked = mark(query, marked)
    out, open_ = [], False
    for part in re.split(f"([{HIGHLIGHT_START}{HIGHLIGHT_STOP}])", marked):
        if part == HIGHLIGHT_START:
            if not open_:
                out.append("<mark>")
                open_ = True
        elif part == HIGHLIGHT_STOP:
            if open_:
                out.append("</mark>")
                open_ = False
        else:
            out.append(escape(part, quote=True))
    if open_:
        out.append("</mark>")
    return "".join(out)
