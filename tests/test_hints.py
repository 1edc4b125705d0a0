"""The hint index finds candidate widgets by topic, category and username."""

import pytest

from hubs.bus.message import is_junk
from hubs.dispatch.hints import HintIndex, MessageKeys, split_topic
from hubs.models import Widget
from hubs.widgets.base import Hints, WidgetSpec


def _spec(name, hints):
    return WidgetSpec(name=name, module=None, title=name, arguments=(), hints=hints, template="t.html",
                      chrome=True, data=lambda ctx, w: {}, should_invalidate=lambda m, c, w: True)


REGISTRY = {
    "bytopic": _spec("bytopic", Hints(topics=frozenset({"badges.badge.award"}))),
    "bycategory": _spec("bycategory", Hints(categories=frozenset({"bodhi"}))),
    "byuser": _spec("byuser", Hints(usernames=lambda w, ctx: [w.config["user"]])),
    "byconfig": _spec("byconfig", Hints(widget_topics=lambda w: [w.config.get("topic", "")])),
    "deaf": _spec("deaf", Hints()),
}

WIDGETS = [
    Widget(1, "h", "bytopic", "left", 0, {}),
    Widget(2, "h", "bycategory", "left", 1, {}),
    Widget(3, "h", "byuser", "left", 2, {"user": "ralph"}),
    Widget(4, "h", "byuser", "left", 3, {"user": "mizmo"}),
    Widget(5, "h", "byconfig", "left", 4, {"topic": "hubs.dummy.poke"}),
    Widget(6, "h", "deaf", "left", 5, {}),
]

LOOKUPS = [
    # (short topic, category, usernames, expected widget ids)
    ("badges.badge.award", "badges", {"someone"}, {1}),
    ("bodhi.update.comment", "bodhi", set(), {2}),
    ("git.receive", "git", {"ralph"}, {3}),
    ("git.receive", "git", {"ralph", "mizmo"}, {3, 4}),
    ("badges.badge.award", "badges", {"mizmo"}, {1, 4}),
    ("hubs.dummy.poke", "hubs", set(), {5}),
    ("hubs.dummy.other", "hubs", set(), set()),
    ("fas.user.create", "fas", {"nobody"}, set()),
]


@pytest.mark.parametrize(("short", "category", "users", "expected"), LOOKUPS)
def test_candidates(short, category, users, expected):
    """All three hints are used; widgets with no hints are never candidates."""
    index = HintIndex(REGISTRY)
    for widget in WIDGETS:
        index.add(widget)
    assert index.candidates(MessageKeys(short, category, frozenset(users))) == expected


def test_update_and_remove_keep_the_index_exact():
    """Re-adding a widget with a new config moves it; removing leaves no trace."""
    index = HintIndex(REGISTRY)
    index.add(Widget(3, "h", "byuser", "left", 0, {"user": "ralph"}))
    index.add(Widget(3, "h", "byuser", "left", 0, {"user": "mizmo"}))
    assert index.candidates(MessageKeys("x.y", "x", frozenset({"ralph"}))) == set()
    assert index.candidates(MessageKeys("x.y", "x", frozenset({"mizmo"}))) == {3}
    index.remove(3)
    assert len(index) == 0 and not index._by_username


@pytest.mark.parametrize(("topic", "expected"), [
    ("org.fedoraproject.prod.badges.badge.award", ("badges.badge.award", "badges")),
    ("org.fedoraproject.dev.hubs.widget.update", ("hubs.widget.update", "hubs")),
    ("io.pagure.prod.pagure.issue.new", ("pagure.issue.new", "pagure")),
    ("too.short", ("", "")),
])
def test_split_topic(topic, expected):
    """Category is topic.split('.')[3]; the short topic is everything from there."""
    assert split_topic(topic) == expected


def test_junk_suffixes():
    """Topics ending in a junk suffix are recognised."""
    assert is_junk("org.fedoraproject.prod.buildsys.repo.init", ["buildsys.repo.init"])
    assert not is_junk("org.fedoraproject.prod.buildsys.build.state.change", ["buildsys.repo.init"])
