"""The stream page's decisions (hubs/static/streamlib.js), run in node from tables of cases.

Grouping consecutive items and what a group says, relative times, the keyboard map (never while typing),
filters <-> URLs, which filters the page can check itself, which view an item belongs in after a change, and the
header count's words. One node process answers every case of the module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import need_service

LIB = Path(__file__).resolve().parent.parent / "hubs" / "static" / "streamlib.js"
NOW = 1_764_770_000.0  # 2025-12-03 13:53:20 UTC
RUNNER = """
const lib = require(process.argv[1]);
let input = "";
process.stdin.on("data", d => input += d);
process.stdin.on("end", () => {
  const out = JSON.parse(input).map(([fn, args]) => {
    try { return {value: lib[fn](...args)}; } catch (e) { return {error: String(e)}; }
  });
  process.stdout.write(JSON.stringify(out));
});
"""


def item(id_, group=None, agent="ralph", summary=None, **state):
    """An item as GET /api/stream gives it (only what the decisions read)."""
    return {"id": id_, "group": group, "unread": state.get("unread", True), "done": state.get("done", False),
            "saved": state.get("saved", False), "snoozed_until": state.get("snoozed_until"),
            "reasons": [{"kind": k, "name": "x", "text": k} for k in state.get("reasons", ["package"])],
            "message": {"agent": agent, "summary": summary or f"{agent} commented on gimp-1.0-1.fc43",
                        "topic": state.get("topic", "org.fedoraproject.prod.bodhi.update.comment"),
                        "category": state.get("category", "bodhi"), "packages": state.get("packages", ["gimp"]),
                        "usernames": state.get("usernames", [agent]), "time": NOW}}


PEOPLE = ["ralph", "adamw", "kevin", "nirik", "pingou", "mizmo", "sgallagh", "mattdm", "churchyard", "decathorpe",
          "bowlofeggs"]

GROUPS = [  # items' groups -> [(key, size)] of the groups drawn
    ([], []),
    (["a", "a", "b", "a"], [("a", 2), ("b", 1), ("a", 1)]),
    ([None, None], [(None, 1), (None, 1)]),
    (["a", None, "a"], [("a", 1), (None, 1), ("a", 1)]),
]

SUMMARIES = [  # (what is said of a group, its items)
    ("ralph commented on gimp-1.0-1.fc43", [item(1)]),
    ("ralph and 10 others commented on gimp-1.0-1.fc43", [item(i, "g", agent=a) for i, a in enumerate(PEOPLE)]),
    ("ralph and adamw commented on gimp-1.0-1.fc43", [item(1, "g"), item(2, "g", agent="adamw"), item(3, "g")]),
    ("ralph commented on gimp-1.0-1.fc43 (3 times)", [item(i, "g") for i in range(3)]),
    ("2 updates: New build of gimp", [item(1, "g", summary="New build of gimp"), item(2, "g", agent="kevin")]),
]

TIMES = [  # (seconds ago or an exact epoch, text)
    (3, "just now"), (30, "30 s ago"), (300, "5 min ago"), (7300, "2 h ago"), (86400 + 60, "yesterday"),
    (3 * 86400, "3 days ago"), (10 * 86400, "23 Nov"), (400 * 86400, "29 Oct 2024"), (-50, "just now"),
]

KEYS = [  # (the key press, the action)
    ({"key": "j"}, "next"), ({"key": "k"}, "previous"), ({"key": "x"}, "select"), ({"key": "e"}, "done"),
    ({"key": "s"}, "save"), ({"key": "u"}, "unread"), ({"key": "/"}, "search"), ({"key": "?"}, "help"),
    ({"key": "j", "tag": "INPUT"}, None), ({"key": "/", "tag": "textarea"}, None),
    ({"key": "e", "tag": "SELECT"}, None), ({"key": "s", "editable": True}, None),
    ({"key": "s", "ctrlKey": True}, None), ({"key": "j", "metaKey": True}, None),
    ({"key": "k", "altKey": True}, None), ({"key": "q"}, None), ({"key": "Enter"}, None),
    ({"key": "Enter", "onCard": True}, "open"), ({"key": "?", "tag": "BUTTON"}, "help"),
    ({"key": "j", "tag": "INPUT-checkbox"}, "next"),
]

QUERIES = [  # (a URL's query string, the filter, the query string the page writes back)
    ("", {"view": "everything", "q": ""}, ""),
    ("?view=needs-me&package=gimp&not_service=copr&q=fails",
     {"view": "needs-me", "q": "fails", "package": ["gimp"], "not_service": ["copr"]},
     "view=needs-me&q=fails&not_service=copr&package=gimp"),
    ("?view=nonsense&reason=package&reason=group&person=",
     {"view": "everything", "q": "", "reason": ["package", "group"]},
     "reason=package&reason=group"),
    ("?topic=org.*.bodhi.*&not_hub=designteam", {"view": "everything", "q": "", "topic": ["org.*.bodhi.*"],
                                                  "not_hub": ["designteam"]},
     "topic=org.*.bodhi.*&not_hub=designteam"),
]

MATCHES = [  # (filter, item, does the page show it: True / False / None = only the server knows)
    ({}, item(1), True),
    ({"reason": ["package"]}, item(1, reasons=["mentioned"]), False),
    ({"reason": ["package", "mentioned"]}, item(1, reasons=["mentioned"]), True),
    ({"not_service": ["bodhi"]}, item(1), False),
    ({"not_service": ["copr"]}, item(1), True),
    ({"topic": ["*.bodhi.update.*"]}, item(1), True),
    ({"topic": ["*.buildsys.*"]}, item(1), False),
    ({"not_topic": ["org.fedoraproject.prod.bodhi.update.comment"]}, item(1), False),
    ({"package": ["gimp"]}, item(1), True),
    ({"not_package": ["gimp"]}, item(1), False),
    ({"person": ["kevin"]}, item(1, usernames=["kevin"]), True),
    ({"person": ["kevin"]}, item(1), False),
    ({"not_person": ["ralph"]}, item(1, usernames=[]), False),
    ({"hub": ["designteam"]}, item(1), None),
    ({"q": "gimp"}, item(1), None),
]

VIEWS = [  # (view, item state, does the item belong in it)
    ("everything", {}, True), ("everything", {"done": True}, False),
    ("everything", {"snoozed_until": "2099-01-01T00:00:00Z"}, False),
    ("everything", {"snoozed_until": "2020-01-01T00:00:00Z"}, True),
    ("everything", {"snoozed_until": NOW + 60}, False), ("everything", {"snoozed_until": NOW - 60}, True),
    ("needs-me", {"reasons": ["mentioned"]}, True), ("needs-me", {"reasons": ["actor"]}, False),
    ("needs-me", {"reasons": ["follow-person", "group"]}, True), ("needs-me", {"reasons": ["hub"]}, False),
    ("needs-me", {"reasons": ["actor", "package"]}, False),
    ("mine", {"reasons": ["actor"]}, True), ("mine", {"reasons": ["package"]}, False),
    ("saved", {"saved": True, "done": True}, True), ("saved", {}, False),
    ("done", {"done": True}, True), ("done", {}, False),
]

CHANGES = [  # (the state before, the change, the state after: unread, done, saved, snoozed)
    ({}, {"unread": False}, (False, False, False, None)),
    ({"unread": False}, {"unread": True, "saved": True}, (True, False, True, None)),
    ({}, {"done": True}, (True, True, False, None)),
    ({}, {"snooze": "1h"}, (True, False, False, 253402214400)),
    ({"snoozed_until": NOW + 3600}, {"snooze": None}, (True, False, False, None)),
    ({}, {"snoozed_until": NOW + 3600}, (True, False, False, NOW + 3600)),
]

COUNTS = [({"unread": 0}, "0", "Stream: nothing unread"), ({"unread": 5, "needs_me": 2}, "5", "Stream: 5 unread"),
          ({"unread": 150}, "99+", "Stream: 150 unread"), ({}, "0", "Stream: nothing unread"),
          ({"unread": 1003, "needs_me": 3, "more": True}, "99+", "Stream: 1003+ unread")]


def calls() -> list[tuple[str, list]]:
    out: list[tuple[str, list]] = []
    out += [("groupItems", [[item(i, g) for i, g in enumerate(groups)]]) for groups, _ in GROUPS]
    out += [("groupSummary", [items]) for _, items in SUMMARIES]
    out += [("relativeTime", [NOW - ago, NOW]) for ago, _ in TIMES]
    out += [("keyAction", [press]) for press, _ in KEYS]
    out += [("parseFilter", [search]) for search, _, _ in QUERIES]
    out += [("filterQuery", [expected]) for _, expected, _ in QUERIES]
    out += [("matchesFilter", [f, it]) for f, it, _ in MATCHES]
    out += [("inView", [view, item(1, **state), NOW]) for view, state, _ in VIEWS]
    out += [("applyChange", [item(1, **before), change]) for before, change, _ in CHANGES]
    out += [("countLabel", [counts]) for counts, _, _ in COUNTS]
    out += [("withFilter", [{"view": "mine", "package": ["a"]}, "package", "b"]),
            ("withFilter", [{"view": "mine", "package": ["a", "b"]}, "package", "a", True]),
            ("withFilter", [{"view": "mine", "package": ["a"]}, "package", "a", True]),
            ("filterJson", [{"view": "saved", "q": "x", "reason": ["package"], "not_hub": ["h"]}]),
            ("activeFilters", [{"view": "saved", "q": "x", "reason": ["package"], "not_hub": ["h"]}])]
    return out


@pytest.fixture(scope="module")
def answers() -> dict[str, object]:
    """Every call of ``calls()`` answered by one node process: {json of the call: its value}."""
    node = shutil.which("node")
    if node is None:
        need_service("node", "node runs the page's pure JavaScript (make test installs it)")
    every = calls()
    run = subprocess.run([node, "-e", RUNNER, str(LIB)], input=json.dumps(every), capture_output=True, text=True,
                         timeout=60, check=True)
    results = json.loads(run.stdout)
    for call, result in zip(every, results, strict=True):
        assert "error" not in result, (call, result)
    return {json.dumps(c): r["value"] if "value" in r else None for c, r in zip(every, results, strict=True)}


def answer(answers, fn, *args):
    return answers[json.dumps((fn, list(args)))]


@pytest.mark.parametrize(("groups", "drawn"), GROUPS)
def test_consecutive_items_about_the_same_thing_are_one_group(answers, groups, drawn):
    """Only neighbours with the same non-empty group key merge; the order stays newest first."""
    result = answer(answers, "groupItems", [item(i, g) for i, g in enumerate(groups)])
    assert [(g["key"], len(g["items"])) for g in result] == drawn


@pytest.mark.parametrize(("said", "items"), SUMMARIES)
def test_a_group_says_who_did_what_to_which_thing(answers, said, items):
    """"ralph and 10 others commented on gimp-1.0-1.fc43": the newest item's words, the other agents counted."""
    assert answer(answers, "groupSummary", items) == said


@pytest.mark.parametrize(("ago", "text"), TIMES)
def test_times_are_relative_then_dates(answers, ago, text):
    """Seconds, minutes, hours, yesterday, days, then the date (with the year when it is not this one)."""
    assert answer(answers, "relativeTime", NOW - ago, NOW) == text


@pytest.mark.parametrize(("press", "action"), KEYS)
def test_the_keyboard_map_never_steals_keys_while_typing(answers, press, action):
    """j/k/x/e/s/u/ / /? act; nothing in a field, an editable element or with Ctrl/Alt/Meta."""
    assert answer(answers, "keyAction", press) == action


@pytest.mark.parametrize(("search", "expected", "written"), QUERIES)
def test_a_filter_is_a_url_and_back(answers, search, expected, written):
    """The URL's parameters give the filter (bad views and empty values dropped); the filter gives its URL."""
    assert answer(answers, "parseFilter", search) == expected
    assert answer(answers, "filterQuery", expected).replace("%2A", "*") == written


@pytest.mark.parametrize(("filter_", "it", "shown"), MATCHES)
def test_a_live_item_is_shown_only_if_it_passes_the_filter(answers, filter_, it, shown):
    """Reason, service, topic glob, package and person (and their not_ forms) the page checks; hub and words not."""
    assert answer(answers, "matchesFilter", filter_, it) is shown


@pytest.mark.parametrize(("view", "state", "belongs"), VIEWS)
def test_which_view_an_item_belongs_in(answers, view, state, belongs):
    """As the contract's views: everything hides done and snoozed; needs me is mentions, packages, groups."""
    assert answer(answers, "inView", view, item(1, **state), NOW) is belongs


@pytest.mark.parametrize(("before", "change", "after"), CHANGES)
def test_a_change_sets_the_state_it_names(answers, before, change, after):
    """Read, done, saved as given; a snooze hides until the server says when; null wakes the item."""
    result = answer(answers, "applyChange", item(1, **before), change)
    assert (result["unread"], result["done"], result["saved"], result["snoozed_until"]) == after


@pytest.mark.parametrize(("counts", "shown", "said"), COUNTS)
def test_the_header_count_is_short_to_see_and_whole_to_hear(answers, counts, shown, said):
    """The badge shows at most "99+"; its accessible name says the whole number."""
    assert answer(answers, "countLabel", counts) == {"shown": shown, "said": said}


def test_filters_are_added_removed_and_listed(answers):
    """withFilter adds or takes one value; the JSON form leaves the view out; chips name the not_ forms."""
    assert answer(answers, "withFilter", {"view": "mine", "package": ["a"]}, "package", "b") == \
        {"view": "mine", "package": ["a", "b"]}
    assert answer(answers, "withFilter", {"view": "mine", "package": ["a", "b"]}, "package", "a", True) == \
        {"view": "mine", "package": ["b"]}
    assert answer(answers, "withFilter", {"view": "mine", "package": ["a"]}, "package", "a", True) == {"view": "mine"}
    both = {"view": "saved", "q": "x", "reason": ["package"], "not_hub": ["h"]}
    assert answer(answers, "filterJson", both) == {"q": "x", "reason": ["package"], "not_hub": ["h"]}
    assert [c["label"] for c in answer(answers, "activeFilters", both)] == ["reason: package", "not hub: h"]
