"""Markdown from people, rendered and sanitised before it reaches a page."""

from __future__ import annotations

import functools
import threading

import bleach
import bleach.linkifier
import markdown
from markupsafe import Markup

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "ul", "del", "img",
})
ALLOWED_ATTRIBUTES = {
    "a": ["href", "title"],
    "abbr": ["title"],
    "img": ["src", "alt", "title"],
    "th": ["align"],
    "td": ["align"],
}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto", "irc", "ircs"})


def _link_attrs(attrs, new=False):
    href = attrs.get((None, "href"), "")
    if href.startswith(("http://", "https://")):
        attrs[(None, "rel")] = "nofollow noopener"
        attrs[(None, "target")] = "_blank"
    return attrs


# Sanitise, then linkify, in one html5lib pass (the linkify filter runs on the sanitised stream, so the
# rel/target it adds are not stripped, exactly as cleaning and then linkifying in two passes did).
_cleaner = bleach.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    protocols=ALLOWED_PROTOCOLS,
    strip=True,
    strip_comments=True,
    filters=[functools.partial(bleach.linkifier.LinkifyFilter, callbacks=[_link_attrs])],
)


_local = threading.local()


def _markdown() -> markdown.Markdown:
    """One Markdown converter per thread, reset before each use (building one costs more than converting)."""
    converter = getattr(_local, "converter", None)
    if converter is None:
        converter = _local.converter = markdown.Markdown(extensions=["tables", "fenced_code", "sane_lists"],
                                                         output_format="html")
    return converter.reset()


def render_markdown(text: str) -> Markup:
    """Markdown to safe HTML: no scripts, handlers, styles or odd URL schemes."""
    html = _markdown().convert(text or "")
    return Markup(_cleaner.clean(html))
