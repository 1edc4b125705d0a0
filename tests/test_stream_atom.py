"""The Atom feed of a saved filter (hubs/web/my_stream.py atom_feed, pure): well-formed XML whatever a message
says, and links only to http(s) addresses."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from hubs.web.my_stream import atom_feed

NS = {"a": "http://www.w3.org/2005/Atom"}


def item(**message) -> dict:
    return {"id": 7, "reasons": [{"text": "you built it"}],
            "message": {"summary": "built", "time": 1000.0, "category": "buildsys", **message}}


def parse(items: list[dict]) -> ET.Element:
    return ET.fromstring(atom_feed("Hubs: mine", "/stream/feed/x.atom", items, 2000.0))


@pytest.mark.parametrize(("link", "kept"), [
    ("https://koji.fedoraproject.org/koji/taskinfo?id=1&x=2", True),
    ("http://example.org/a", True),
    ("HTTPS://example.org/a", True),
    ("javascript:alert(1)", False),
    ("JavaScript:alert(1)", False),
    (" javascript:alert(1)", False),
    ("data:text/html,<script>alert(1)</script>", False),
    ("//evil.example/x", False),
    ("/relative", False),
    ("", False),
])
def test_only_http_links_reach_the_feed(link, kept):
    """A message's link is the entry's link only when it is an http(s) address (a feed reader may follow it)."""
    links = parse([item(link=link)]).findall("a:entry/a:link", NS)
    assert [e.get("href") for e in links] == ([link] if kept else [])


@pytest.mark.parametrize("text", [
    "a\x00b", "a\x01b\x08c", "a\x0bb\x0cc", "a\x1fb", "a\ufffeb", "a\uffffb", "</summary><entry>", "x]]>y", "&amp;<",
])
def test_any_summary_gives_well_formed_xml(text):
    """Characters XML 1.0 cannot carry are dropped; markup is escaped: the feed always parses."""
    root = parse([item(summary=text, agent=text, category=text)])
    title = root.find("a:entry/a:title", NS).text or ""
    assert "<" not in text or "<" in title  # escaped, so read back as text
    assert all(c not in title for c in "\x00\x01\x08\x0b\x0c\x1f\ufffe\uffff")
