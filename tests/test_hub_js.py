"""The hub page's decisions (hubs/static/hublib.js), run in node from tables of cases.

Who gets which Follow control and what is said when it changes; what the Activity widget's search box asks
/api/search, when it asks nothing (the live feed shows), what it says of an answer or an error; which links a result
may carry; how an API highlight becomes text and marks (never HTML). One node process answers every case.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import need_service
from tests.test_stream_js import RUNNER

LIB = Path(__file__).resolve().parent.parent / "hubs" / "static" / "hublib.js"
TEAM = {"kind": "hub", "name": "designteam"}
PERSON = {"kind": "person", "name": "ralph"}


def me(username=None, via=None, login=True):
    """GET /api/me's answer (only what the decision reads)."""
    return {"username": username, "via": via, "login": login}


CHOICES = [  # (visitor, what the header follows, what the visitor gets)
    (me(), TEAM, "login"),
    (me(login=False), TEAM, "none"),                     # no login configured: nothing to offer
    (None, TEAM, "none"),                                # /api/me not answered
    (me("mizmo", "session"), TEAM, "button"),
    (me("mizmo", "session"), PERSON, "button"),
    (me("ralph", "session"), PERSON, "none"),            # nobody follows themselves
    (me("ralph", "session"), {"kind": "hub", "name": "ralph"}, "button"),
    (me("mizmo", "token"), TEAM, "none"),                # an API token has no CSRF token to write with
    (me("mizmo", "session"), {"kind": "package", "name": "gimp"}, "none"),
    (me("mizmo", "session"), {"kind": "hub", "name": ""}, "none"),
]

FOLLOWS = [  # (GET /api/follows' answer, is TEAM in it)
    ({"follows": [{"kind": "hub", "name": "designteam"}]}, True),
    ({"follows": [{"kind": "person", "name": "designteam"}]}, False),   # same name, another kind
    ({"follows": [{"kind": "hub", "name": "design"}]}, False),
    ({"follows": []}, False),
    ({}, False),
]

SAID = [
    (TEAM, True, "You follow the designteam hub: its people's activity comes to your stream."),
    (TEAM, False, "You no longer follow the designteam hub."),
    (PERSON, True, "You follow ralph: their activity comes to your stream."),
    (PERSON, False, "You no longer follow ralph."),
]

TEXTS = [  # (the box's value, what is searched; "" = the live feed)
    ("", ""), ("   ", ""), ("  gimp ", "gimp"), ('"', ""), ("-", ""), ('"new logo"', '"new logo"'),
    ("-draft logo", "-draft logo"), ("gimp-1.0-1.fc43", "gimp-1.0-1.fc43"), ("Ελληνικά", "Ελληνικά"),
    ("x" * 250, "x" * 200),
]

URLS = [  # (scope, text, limit, before, URL)
    ({"hub": "designteam", "person": None}, "logo", 20, None, "/api/search?q=logo&hub=designteam&limit=20"),
    ({"hub": None, "person": "nirik"}, '"a b" & c', 20, None,
     "/api/search?q=%22a%20b%22%20%26%20c&person=nirik&limit=20"),
    ({"hub": "designteam", "person": None}, "logo", 20, "1790000000.5:42",
     "/api/search?q=logo&hub=designteam&limit=20&before=1790000000.5%3A42"),
]

SEARCH_SAID = [  # (text, shown, more, sentence)
    ("logo", 0, False, "No messages match \u201clogo\u201d."),
    ("logo", 1, False, "1 message matches \u201clogo\u201d."),
    ("logo", 7, False, "7 messages match \u201clogo\u201d."),
    ("logo", 20, True, "20 messages (and older ones) match \u201clogo\u201d."),
]

ERRORS = [  # (status, body, sentence)
    (0, {}, "Search failed: Hubs cannot be reached. Try again in a moment."),
    (400, {"error": "q must not contain control characters"}, "Search failed: q must not contain control characters"),
    (503, {}, "Search failed (the server answered 503). Try again in a moment."),
    (500, {"error": ""}, "Search failed (the server answered 500). Try again in a moment."),
]

LINKS = [("https://pagure.io/x", "https://pagure.io/x"), ("http://a.b/c", "http://a.b/c"),
         ("javascript:alert(1)", ""), ("data:text/html,x", ""), ("//evil.example/x", ""), ("https:// x", ""),
         ("", ""), (None, ""), (42, "")]

HIGHLIGHTS = [  # (the API's highlight, [(text, marked)])
    ("<mark>Logo</mark> &lt;draft&gt; for F45", [("Logo", True), (" <draft> for F45", False)]),
    ("plain &amp; simple", [("plain & simple", False)]),
    ("a <mark>b</mark><mark>c</mark> d", [("a ", False), ("bc", True), (" d", False)]),
    ("&lt;script&gt;alert(1)&lt;/script&gt;", [("<script>alert(1)</script>", False)]),
    ("<b>not a mark</b>", [("<b>not a mark</b>", False)]),              # only <mark> is markup; the rest is text
    ("it&#x27;s &quot;q&quot; &#39;x&#39; &#128512; &nosuch;", [("it's \"q\" 'x' \U0001F600 &nosuch;", False)]),
    ("<mark>unclosed", [("unclosed", True)]),
    ("", []),
]


def calls() -> list[tuple[str, list]]:
    out: list[tuple[str, list]] = []
    out += [("followChoice", [visitor, target]) for visitor, target, _ in CHOICES]
    out += [("isFollowing", [answer, TEAM]) for answer, _ in FOLLOWS]
    out += [("followSaid", [target, on]) for target, on, _ in SAID]
    out += [("searchText", [value]) for value, _ in TEXTS]
    out += [("searchUrl", [scope, text, limit, before]) for scope, text, limit, before, _ in URLS]
    out += [("searchSaid", [text, shown, more]) for text, shown, more, _ in SEARCH_SAID]
    out += [("searchError", [status, body]) for status, body, _ in ERRORS]
    out += [("safeLink", [url]) for url, _ in LINKS]
    out += [("highlightParts", [html]) for html, _ in HIGHLIGHTS]
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
    return {json.dumps(c): r.get("value") for c, r in zip(every, results, strict=True)}


def answer(answers, fn, *args):
    return answers[json.dumps((fn, list(args)))]


@pytest.mark.parametrize(("visitor", "target", "choice"), CHOICES)
def test_who_gets_a_follow_button_a_login_link_or_nothing(answers, visitor, target, choice):
    """Signed in with a session: a button (not on one's own hub); anonymous: "Log in to follow" if login exists."""
    assert answer(answers, "followChoice", visitor, target) == choice


@pytest.mark.parametrize(("follows", "following"), FOLLOWS)
def test_the_button_reads_its_state_from_the_follows(answers, follows, following):
    """Followed only when the same kind and name are in GET /api/follows."""
    assert answer(answers, "isFollowing", follows, TEAM) is following


@pytest.mark.parametrize(("target", "on", "said"), SAID)
def test_a_change_of_follow_is_said_in_words(answers, target, on, said):
    """What a screen reader hears after the button worked."""
    assert answer(answers, "followSaid", target, on) == said


@pytest.mark.parametrize(("value", "text"), TEXTS)
def test_the_box_searches_trimmed_text_with_a_word_in_it(answers, value, text):
    """Blank or only signs: the live feed; longer than /api/search takes: cut to 200 characters."""
    assert answer(answers, "searchText", value) == text


@pytest.mark.parametrize(("scope", "text", "limit", "before", "url"), URLS)
def test_the_box_asks_the_search_api_for_its_people(answers, scope, text, limit, before, url):
    """q, then person= or hub=, the page size and the cursor of older results, all encoded."""
    assert answer(answers, "searchUrl", scope, text, limit, before) == url


@pytest.mark.parametrize(("text", "shown", "more", "said"), SEARCH_SAID)
def test_the_box_says_how_many_match_or_that_none_do(answers, text, shown, more, said):
    """"No messages match", one, many, many with older ones."""
    assert answer(answers, "searchSaid", text, shown, more) == said


@pytest.mark.parametrize(("status", "body", "said"), ERRORS)
def test_a_failed_search_says_why_in_the_servers_words(answers, status, body, said):
    """A 4xx's own error; otherwise the status; no answer at all: Hubs cannot be reached."""
    assert answer(answers, "searchError", status, body) == said


@pytest.mark.parametrize(("url", "safe"), LINKS)
def test_a_result_links_only_to_the_web(answers, url, safe):
    """http(s) links with a host are kept; javascript:, data:, scheme-relative and non-strings are dropped."""
    assert answer(answers, "safeLink", url) == safe


@pytest.mark.parametrize(("html", "parts"), HIGHLIGHTS)
def test_a_highlight_becomes_text_and_marks_never_html(answers, html, parts):
    """Entities decoded into text, <mark> into marked runs; any other tag stays literal text."""
    assert [(p["text"], p["marked"]) for p in answer(answers, "highlightParts", html)] == parts
