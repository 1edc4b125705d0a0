"""Markdown from people, rendered and sanitised before it reaches a page.

Three steps, each one job: Python-Markdown turns the text into HTML; ammonia (``nh3``, the sanitiser
PyPI's own README rendering uses since bleach was deprecated) keeps only the tags, attributes and URL
schemes below; ``linkify`` then turns bare web addresses in the sanitised text into links and marks every
outside link ``rel="nofollow noopener" target="_blank"``. It works on ammonia's output, which is
well-formed and escaped (every ``<`` in text is ``&lt;``, every ``>`` in an attribute ``&gt;``), so a tag is
exactly ``<[^>]*>`` and nothing it adds can open a tag or leave an attribute.
"""

from __future__ import annotations

import re
import threading

import markdown
import nh3
from markupsafe import Markup

ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "code", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table", "tbody", "td",
    "th", "thead", "tr", "ul", "del", "img",
})
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
}
ALLOWED_PROTOCOLS = frozenset({"http", "https", "mailto", "irc", "ircs"})
OUTSIDE_LINK = ' rel="nofollow noopener" target="_blank"'

_TAG = re.compile(r"(<[^>]*>)")
_NAME = re.compile(r"</?([a-z0-9]+)")
_HREF = re.compile(r'\shref="(https?://[^"]*)"', re.IGNORECASE)
# A bare address, as GitHub's autolinks take them: http(s):// or www., up to a space, a quote or an escaped
# angle bracket; trailing punctuation and an unbalanced ")" are not part of it (``_trim``).
_BARE = re.compile(r"\b(?:https?://|www\.)(?:(?!&lt;|&gt;)[^\s<>\"'])+", re.IGNORECASE)
_TRAILING = ".,:;!?*_~'\""
_NO_LINKS_INSIDE = frozenset({"a", "pre", "code"})


def _trim(url: str) -> str:
    """A matched address without what ends the sentence around it (pure)."""
    while url:
        if url[-1] in _TRAILING:
            url = url[:-1]
        elif url.endswith(")") and url.count("(") < url.count(")"):
            url = url[:-1]
        elif re.search(r"&[a-z0-9]+;$", url, re.IGNORECASE) and not url.endswith("&amp;"):
            url = url[: url.rindex("&")]
        else:
            return url
    return url


def _link_text(text: str) -> str:
    """Sanitised text with its bare addresses made links."""
    def link(match: re.Match) -> str:
        url = _trim(match.group(0))
        rest = match.group(0)[len(url):]
        if url.lower().startswith("www."):
            if "." not in url[4:]:
                return match.group(0)
            href = "http://" + url
        else:
            href = url
            if len(href.split("://", 1)[1]) == 0:
                return match.group(0)
        return f'<a href="{href}"{OUTSIDE_LINK}>{url}</a>{rest}'

    return _BARE.sub(link, text)


def linkify(html: str) -> str:
    """Sanitised HTML with bare addresses linked (not inside links, code or preformatted text) and every
    http(s) link marked as leading out of Hubs."""
    out = []
    inside = 0  # depth of a, pre and code elements
    for part in _TAG.split(html):
        if not part:
            continue
        if part[0] == "<":
            name = _NAME.match(part)
            tag = name.group(1).lower() if name else ""
            if tag in _NO_LINKS_INSIDE:
                if part[1] == "/":
                    inside = max(0, inside - 1)
                else:
                    inside += 1
                    if tag == "a" and _HREF.search(part):
                        part = part[:-1] + OUTSIDE_LINK + ">"
            out.append(part)
        else:
            out.append(part if inside else _link_text(part))
    return "".join(out)


def sanitise(html: str) -> str:
    """Only the allowed tags, attributes and URL schemes; no comments, scripts or styles (with their text)."""
    return nh3.clean(html, tags=set(ALLOWED_TAGS), attributes=ALLOWED_ATTRIBUTES, url_schemes=set(ALLOWED_PROTOCOLS),
                     link_rel=None, strip_comments=True)


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
    return Markup(linkify(sanitise(_markdown().convert(text or ""))))
