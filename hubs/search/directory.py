"""Search over what the directory holds in memory (pure): hubs, people and the texts owners wrote.

Every process holds the whole directory (hubs, widgets, roles), so these kinds are found without a
query to PostgreSQL, ranked best first: a name equal to the query, then a name holding it, then words
of a summary or a text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hubs.models import Hub, Widget
from hubs.search.query import HIGHLIGHT_START, Query, highlight_html, mark, matches, matches_split, words

TEXT_WIDGETS = {"sticky": ("text",), "about": ("text",), "rules": ("schedule", "links")}
SNIPPET = 160  # characters of a widget's text around its first match


def _rank(query: Query, hub: Hub) -> tuple[int, str] | None:
    text = f"{hub.name} {hub.summary}"
    return _rank_split(query, hub.name, text.lower(), words(text))


def _rank_split(query: Query, hub_name: str, lowered: str, found: list[str]) -> tuple[int, str] | None:
    """``_rank`` of a hub whose "name summary" text is already lowercased and split into words."""
    name = hub_name.lower()
    needle = query.text.lower()
    if needle and name == needle:
        return (0, hub_name)
    one_token = len(needle) >= 2 and not any(c.isspace() or c == '"' for c in needle) and needle[0] != "-"
    if one_token and needle in name:  # names are typed in part ("design" finds "designteam"): few, in memory
        return (1, hub_name)
    if matches_split(query, lowered, found):
        return (2, hub_name)
    return None


def hub_text(hub: Hub) -> tuple[str, list[str]]:
    """A hub's name and summary, lowercased and as words: what ``hub_matches`` reads (split once, kept)."""
    text = f"{hub.name} {hub.summary}"
    return text.lower(), words(text)


def hub_matches(query: Query, hub: Hub, text: tuple[str, list[str]] | None = None) -> bool:
    """Whether a hub's name or summary matches a query, as the search finds hubs (the front page's ``q``);
    ``text``: its ``hub_text``, if the caller keeps it."""
    lowered, found = text if text is not None else hub_text(hub)
    return _rank_split(query, hub.name, lowered, found) is not None


def widget_text(widget: Widget) -> str:
    """The words an owner wrote in a text widget (sticky note, about, rules)."""
    parts: list[str] = []
    for key in TEXT_WIDGETS.get(widget.plugin, ()):
        value = widget.config.get(key)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):  # rules' links: [{"title", "url"}] or [[title, url]]
            for link in value:
                if isinstance(link, dict):
                    parts += [str(v) for v in link.values()]
                elif isinstance(link, list | tuple):
                    parts += [str(v) for v in link]
    return "\n".join(parts)


def snippet(query: Query, text: str) -> str:
    """HTML of the part of a text around its first match, highlighted and escaped."""
    marked = mark(query, text)
    at = marked.find(HIGHLIGHT_START)
    start = max(0, at - SNIPPET // 3) if at >= 0 else 0
    part = marked[start:start + SNIPPET]
    return ("…" if start else "") + highlight_html(part) + ("…" if start + SNIPPET < len(marked) else "")


def search_directory(query: Query, hubs: Iterable[Hub], widgets_of: Callable[[str], list[Widget]],
                     limit: int = 10) -> dict[str, list[dict[str, Any]]]:
    """Hubs, people (personal hubs) and widget texts matching a query, best first (pure)."""
    found: dict[str, list[dict[str, Any]]] = {"hubs": [], "people": [], "widgets": []}
    if query.empty:
        return found
    ranked: list[tuple[tuple[int, str], Hub]] = []
    texts: list[tuple[str, int, dict[str, Any]]] = []
    for hub in hubs:
        if hub.archived or (query.hub is not None and hub.name != query.hub):
            continue
        rank = _rank(query, hub)
        if rank is not None:
            ranked.append((rank, hub))
        for widget in widgets_of(hub.name):
            text = widget_text(widget)
            if text and matches(query, text):
                texts.append((hub.name, widget.idx, {"hub": hub.name, "idx": widget.idx, "plugin": widget.plugin,
                                                      "highlight": snippet(query, text)}))
    for (_, _), hub in sorted(ranked, key=lambda r: r[0]):
        kind = "people" if hub.user_hub else "hubs"
        if len(found[kind]) < limit:
            found[kind].append({"name": hub.name, "summary": hub.summary, "url": f"/{hub.name}",
                                "highlight": highlight_html(mark(query, hub.summary))})
    found["widgets"] = [entry for _, _, entry in sorted(texts, key=lambda t: (t[0], t[1]))[:limit]]
    return found
