"""The widget catalogue: what invalidates each widget, their data, outside services, escaping."""

import datetime
import json
import time

import fedmsg.config
import pytest
import pytest_twisted
from twisted.internet import reactor

from hubs.bus.meta import MessageMeta
from hubs.db.recorder import stored_message
from hubs.demo import messages as M
from hubs.demo import schema_messages as S
from hubs.models import Hub, User
from hubs.services.http import TreqClient
from hubs.testing.harness import make_hubs, make_site
from hubs.widgets import load_registry
from hubs.widgets.cobwebs import idleness
from hubs.widgets.fedmsgs import chart
from hubs.widgets.meetings import upcoming
from hubs.widgets.updates2stable import ready, update_owners
from tests.conftest import services_config

REGISTRY = load_registry()
META = MessageMeta(fedmsg.config.load_config([], None))
NOW = time.time()


@pytest.fixture
def store(fake_store):
    fake_store.add_hub(Hub("mizmo", "Máirín", 8, user_hub=True))
    for name in ("ralph", "mizmo", "duffy"):
        fake_store.users[name] = User(name, name.title())
    fake_store.add_role("ralph", "mizmo", "subscriber")
    fake_store.add_role("designteam", "ralph", "member")
    return fake_store


async def widget_hubs(store, base, timeout=2.0, allow_private=True, recorder=None, **overrides):
    """A Hubs on the fake store with the real fedmsg.meta, the reactor's clock and the canned services."""
    from hubs.build.cache import FakeCache
    from hubs.bus.publish import FakeBus

    return await make_hubs(services_config(base, **overrides), store, FakeCache(), FakeBus(), reactor, meta=META,
                           recorder=recorder, http=TreqClient(reactor, timeout, allow_private=allow_private))


async def add(hubs, store, hub, plugin, config):
    widget = store.add_widget_sync(hub, plugin, "left", 50 + len(store.widgets), REGISTRY[plugin].validate(config))
    await hubs.directory.reload_hub(hub)
    return widget


async def payload(hubs, widget):
    return json.loads(await hubs.states.payload(widget.hub, widget.idx))


async def remember(store, *envelopes):
    await store.add_messages([stored_message(e, META.usernames(e), META.packages(e), NOW) for e in envelopes])


# ---------------------------------------------------------------- what invalidates what

ROLE_DT = M.hubs_message("hubs.role.update", hub="designteam", username="ralph", role="member", action="add")


def comment_only(envelope):
    """A fedmsg-era ``bodhi.update.comment`` as Bodhi sent it: the update inside the comment, none beside it
    (fedmsg.meta's usernames then name the author and the mentions, not the submitter)."""
    msg = {k: v for k, v in envelope["msg"].items() if k != "update"}
    return {**envelope, "msg": msg}


MENTION = M.bodhi_comment("mizmo", "duffy", "gimp-1-1", "FEDORA-2", "works, thanks @ralph @nirik")
ROLE_RALPH = M.hubs_message("hubs.role.update", hub="ralph", username="mizmo", role="subscriber", action="add")
INVALIDATION = [
    # (hub, plugin, config, message, expected)
    ("designteam", "feed", {}, M.git_receive("mizmo", "inkscape", "Fix"), True),        # an owner
    ("designteam", "feed", {}, M.badge_award("ralph", "Origin"), True),                  # a member
    ("designteam", "feed", {}, M.git_receive("nirik", "ansible", "Fix"), False),        # not on the team
    ("ralph", "feed", {}, M.git_receive("ralph", "fedmsg", "Fix"), True),                # the person
    ("ralph", "feed", {}, M.git_receive("mizmo", "gimp", "Fix"), False),
    ("designteam", "feed", {"username": "nirik"}, M.git_receive("nirik", "x", "y"), True),
    ("ralph", "fedmsgstats", {}, M.build_state_change("ralph", "fedmsg", "1.0"), True),
    ("ralph", "fedmsgstats", {}, ROLE_RALPH, True),
    ("ralph", "fedmsgstats", {}, ROLE_DT, False),
    ("ralph", "fedmsgstats", {}, M.git_receive("mizmo", "gimp", "Fix"), False),
    ("ralph", "fedmsgs", {}, M.build_state_change("ralph", "fedmsg", "1.0"), True),
    ("ralph", "fedmsgs", {}, M.build_state_change("mizmo", "gimp", "1.0"), False),
    ("ralph", "subscriptions", {}, ROLE_DT, True),                                      # ralph's role changed
    ("ralph", "subscriptions", {}, ROLE_RALPH, False),                                  # mizmo's role changed
    ("ralph", "subscriptions", {}, M.git_receive("ralph", "fedmsg", "Fix"), False),
    ("designteam", "cobwebs", {}, M.hubs_message("hubs.hub.update", hub="designteam"), True),
    ("designteam", "cobwebs", {}, M.hubs_message("hubs.hub.update", hub="ralph"), False),
    ("designteam", "cobwebs", {}, M.git_receive("duffy", "x", "y"), True),
    ("designteam", "cobwebs", {}, M.git_receive("nirik", "x", "y"), False),
    ("ralph", "avatar", {}, M.hubs_message("hubs.user.update", username="ralph"), True),
    ("ralph", "avatar", {}, M.hubs_message("hubs.user.update", username="mizmo"), False),
    ("ralph", "avatar", {}, M.git_receive("ralph", "x", "y"), False),
    ("ralph", "badges", {}, M.badge_award("ralph", "Origin"), True),
    ("ralph", "badges", {}, M.badge_award("mizmo", "Origin"), False),
    ("ralph", "badges", {}, M.git_receive("ralph", "x", "y"), False),
    ("ralph", "updates2stable", {}, M.bodhi_comment("mizmo", "ralph", "fedmsg-1-1", "FEDORA-1", "ok"), True),
    ("ralph", "updates2stable", {}, M.bodhi_comment("mizmo", "duffy", "gimp-1-1", "FEDORA-2", "ok"), False),
    ("ralph", "updates2stable", {}, M.badge_award("ralph", "Origin"), False),
    ("ralph", "updates2stable", {}, MENTION, False),                                     # mentioned: not his update
    ("ralph", "updates2stable", {}, M.bodhi_comment("ralph", "duffy", "gimp-1-1", "FEDORA-2", "ok"), False),
    ("ralph", "updates2stable", {},
     comment_only(M.bodhi_comment("mizmo", "ralph", "fedmsg-1-1", "FEDORA-1", "ok")), True),  # his, said inside
    ("ralph", "updates2stable", {}, M.bodhi_update_complete("ralph", "fedmsg-1-1", "FEDORA-1"), True),
    ("ralph", "updates2stable", {}, M.bodhi_update_complete("duffy", "gimp-1-1", "FEDORA-2"), False),
    ("ralph", "feed", {}, MENTION, True),                                                 # the mention is news
    ("designteam", "meetings", {"calendar": "https://x.example/ical/designteam/"},
     M.fedocal_meeting_new("mizmo", "designteam", "Weekly"), True),
    ("designteam", "meetings", {"calendar": "https://x.example/ical/designteam/"},
     M.fedocal_meeting_new("nirik", "infrastructure", "Weekly"), False),
    ("designteam", "pagure", {"project": "design"}, M.pagure_issue_new("duffy", "design", 7, "Logo"), True),
    ("designteam", "pagure", {"project": "design"}, M.pagure_issue_new("duffy", "ansible", 7, "x"), False),
    ("designteam", "stats", {}, ROLE_DT, True),
    ("designteam", "stats", {}, ROLE_RALPH, False),
    ("designteam", "rules", {}, ROLE_DT, True),
    ("designteam", "rules", {}, ROLE_RALPH, False),
    ("designteam", "about", {}, M.git_receive("mizmo", "x", "y"), False),
    ("designteam", "sticky", {}, ROLE_DT, False),
    ("designteam", "dummy", {"topic": "hubs.dummy.poke"}, M.hubs_message("hubs.dummy.poke"), True),
    ("designteam", "dummy", {"topic": "hubs.dummy.poke"}, M.hubs_message("hubs.dummy.other"), False),
]


@pytest.mark.parametrize(("hub", "plugin", "config", "message", "expected"), INVALIDATION,
                         ids=[f"{p}-{m['topic'].split('.', 3)[3]}-{e}" for _, p, _, m, e in INVALIDATION])
@pytest_twisted.ensureDeferred
async def test_what_invalidates_each_widget(store, canned_services, hub, plugin, config, message, expected):
    """Through the hint index and should_invalidate, exactly the right messages touch each widget."""
    hubs = await widget_hubs(store, canned_services)
    widget = await add(hubs, store, hub, plugin, config)
    assert (widget.idx in hubs.handler.decide(hubs.fedmsg.read(message)).hits) is expected


@pytest_twisted.ensureDeferred
async def test_only_comments_ask_every_list_of_bodhi_updates(store, canned_services):
    """A push ends with one Bodhi message per update: each asks only the lists of the people it names (the
    submitter among them), not every person's. A comment asks every list: a fedmsg-era comment names its
    update's submitter only inside the comment, where fedmsg.meta does not look."""
    from hubs.dispatch.hints import message_keys

    hubs = await widget_hubs(store, canned_services)
    ralph, mizmo = [await add(hubs, store, hub, "updates2stable", {}) for hub in ("ralph", "mizmo")]

    def asked(envelope):
        return {ralph.idx, mizmo.idx} & hubs.directory.index.candidates(message_keys(hubs.fedmsg.read(envelope)))

    assert asked(M.bodhi_update_complete("ralph", "fedmsg-1-1", "FEDORA-1")) == {ralph.idx}
    assert asked(M.bodhi_update_complete("duffy", "gimp-1-1", "FEDORA-2")) == set()
    assert asked(comment_only(M.bodhi_comment("duffy", "duffy", "gimp-1-1", "FEDORA-2", "ok"))) == \
        {ralph.idx, mizmo.idx}


def test_the_submitter_of_every_real_bodhi_example_is_among_its_usernames_or_it_is_a_comment():
    """updates2stable hints the people a message names, and every comment: over fedmsg.meta's real Bodhi
    examples, the submitter of the update a message carries is always among its usernames (else it would
    never be asked), or the message is a comment."""
    import importlib
    import pkgutil

    import fedmsg_meta_fedora_infrastructure.tests as examples

    bodhi = []
    for info in pkgutil.iter_modules(examples.__path__):
        try:
            module = importlib.import_module(f"{examples.__name__}.{info.name}")
        except Exception:  # a few example modules need optional packages
            continue
        bodhi += [m for m in (getattr(getattr(module, n), "msg", None) for n in dir(module))
                  if isinstance(m, dict) and ".bodhi." in str(m.get("topic"))]
    assert len(bodhi) > 30
    for envelope in bodhi:
        owners = update_owners(envelope["msg"])
        assert owners is None or owners <= META.usernames(envelope) or \
            envelope["topic"].endswith(".bodhi.update.comment"), envelope["topic"]


def test_every_widget_has_invalidation_cases():
    """The table above covers every registered widget, with hits and misses."""
    hits = {p for _, p, _, _, e in INVALIDATION if e}
    misses = {p for _, p, _, _, e in INVALIDATION if not e}
    assert misses == set(REGISTRY)
    assert hits == set(REGISTRY) - {"about", "sticky"}


# ---------------------------------------------------------------- data


@pytest_twisted.ensureDeferred
async def test_feed_shows_people_activity_newest_first_and_pages(store, canned_services):
    """The feed lists the team's messages with human subtitles and links, and pages with "more"."""
    await remember(store, *[M.git_receive("mizmo", "inkscape", f"Change {n}", ts=NOW - 1000 + n) for n in range(12)],
                   M.git_receive("nirik", "ansible", "Not a team member", ts=NOW))
    hubs = await widget_hubs(store, canned_services)
    widget = await add(hubs, store, "designteam", "feed", {"rows": 5})
    data = (await payload(hubs, widget))["data"]
    assert [i["subtitle"].split('"')[1] for i in data["items"]] == [f"Change {n}" for n in range(11, 6, -1)]
    assert data["items"][0]["link"].startswith("https://") and data["cursor"]
    page = await REGISTRY["feed"].more(hubs.ctx, widget, data["cursor"], **widget.config)
    assert [i["subtitle"].split('"')[1] for i in page["items"]] == [f"Change {n}" for n in range(6, 1, -1)]
    last = await REGISTRY["feed"].more(hubs.ctx, widget, page["cursor"], **widget.config)
    assert len(last["items"]) == 2 and last["cursor"] is None


@pytest_twisted.ensureDeferred
async def test_new_message_appears_in_the_feed_live(store, canned_services):
    """A message from a member is stored, then the feed is rebuilt with it and pushed."""
    from hubs.db.recorder import MessageRecorder

    hubs = await widget_hubs(store, canned_services, recorder=MessageRecorder(store, reactor))
    widget = await add(hubs, store, "designteam", "feed", {})
    frames = []
    hubs.streams.add("designteam", type("L", (), {"send": lambda self, f, c: frames.append(f)})())
    await hubs.fedmsg.take(M.pagure_issue_new("duffy", "design", 9, "Brand new ticket"))
    pushed = [json.loads(f.split(b"data: ", 1)[1]) for f in frames]
    feed = [p for p in pushed if p["idx"] == widget.idx]
    assert feed and "Brand new ticket" in feed[-1]["data"]["items"][0]["subtitle"]


@pytest_twisted.ensureDeferred
async def test_more_route(store, canned_services):
    """GET /<hub>/<idx>/more returns the next page as HTML; bad cursors are 400."""
    from treq.testing import StubTreq

    await remember(store, *[M.git_receive("mizmo", "gimp", f"C{n}", ts=NOW - 100 + n) for n in range(8)])
    hubs = await widget_hubs(store, canned_services)
    widget = await add(hubs, store, "designteam", "feed", {"rows": 3})
    cursor = (await payload(hubs, widget))["data"]["cursor"]
    http = StubTreq(make_site(hubs).resource())
    response = await http.get(f"http://h/designteam/{widget.idx}/more", params={"cursor": cursor})
    body = json.loads(await response.content())
    assert response.code == 200 and body["html"].count("feed-item") == 3 and body["cursor"]
    for bad in ("nonsense", "nan:1", "inf:2", "1e300:3", "5:-1"):
        response = await http.get(f"http://h/designteam/{widget.idx}/more", params={"cursor": bad})
        assert response.code == 400 and b"cursor" in await response.content()
    response = await http.get("http://h/designteam/1/more", params={"cursor": cursor})
    assert response.code == 404


@pytest_twisted.ensureDeferred
async def test_person_widgets(store, canned_services):
    """Stats, subscriptions and avatar of a person come from the store."""
    await remember(store, M.git_receive("ralph", "fedmsg", "a"), M.badge_award("ralph", "Origin"),
                   M.git_receive("mizmo", "gimp", "b"))
    hubs = await widget_hubs(store, canned_services)
    stats = await add(hubs, store, "ralph", "fedmsgstats", {})
    assert (await payload(hubs, stats))["data"] == {"person": "ralph", "messages": 2, "subscribers": 1, "stars": 0}
    subs = await add(hubs, store, "ralph", "subscriptions", {})
    groups = {g["label"]: g["hubs"] for g in (await payload(hubs, subs))["data"]["groups"]}
    assert groups["Member of"] == ["designteam"] and groups["Subscribed to"] == ["designteam"]
    avatar = await add(hubs, store, "ralph", "avatar", {})
    data = (await payload(hubs, avatar))["data"]
    assert data["fullname"] == "Ralph" and data["avatar"].startswith("https://seccdn.libravatar.org/")


@pytest_twisted.ensureDeferred
async def test_person_widget_on_a_team_hub_explains_itself(store, canned_services):
    """A personal widget with no username on a team hub shows what to set."""
    hubs = await widget_hubs(store, canned_services)
    widget = await add(hubs, store, "designteam", "badges", {})
    assert "needs a 'username'" in (await payload(hubs, widget))["error"]


@pytest_twisted.ensureDeferred
async def test_cobwebs_counts_real_idleness(store, canned_services):
    """Cobwebs shows days since the team's last message, not a random number."""
    await remember(store, M.git_receive("duffy", "x", "y", ts=NOW - 20 * 86400 - 60),
                   M.git_receive("nirik", "x", "newer but not on the team", ts=NOW))
    hubs = await widget_hubs(store, canned_services)
    widget = await add(hubs, store, "designteam", "cobwebs", {"dusty_after": 14})
    data = (await payload(hubs, widget))["data"]
    assert (data["days"], data["level"], data["archived"]) == (20, "cobwebs", False)


@pytest.mark.parametrize(("last", "dusty_after", "expected"), [
    (None, 14, (None, "silent")), (NOW - 3600, 14, (0, "busy")), (NOW - 3 * 86400, 14, (3, "quiet")),
    (NOW - 10 * 86400, 14, (10, "dusty")), (NOW - 30 * 86400, 14, (30, "cobwebs")),
])
def test_idleness(last, dusty_after, expected):
    """Idleness levels from the last message time."""
    assert idleness(last, NOW, dusty_after) == expected


def test_chart_stacks_categories_per_day():
    """The weekly chart stacks the top categories per day, scaled to the busiest day."""
    days = ["2026-11-23", "2026-11-24"]
    rows = [("2026-11-23", "git", 4), ("2026-11-23", "bodhi", 2), ("2026-11-24", "git", 1)]
    c = chart(days, rows)
    assert [leg["name"] for leg in c["legend"]] == ["git", "bodhi"] and c["total"] == 7
    tallest = [b for b in c["bars"] if b["label"].startswith("2026-11-23")]
    assert sum(b["h"] for b in tallest) == pytest.approx(c["height"] - 10, abs=0.2)
    many = chart(days, [("2026-11-23", f"c{n}", 1) for n in range(8)])
    assert [leg["name"] for leg in many["legend"]][-1] == "other" and len(many["legend"]) == 6


@pytest_twisted.ensureDeferred
async def test_fedmsgs_widget_draws_svg(store, canned_services):
    """The activity chart is an inline SVG with one bar per day and category."""
    await remember(store, M.git_receive("ralph", "a", "b", ts=NOW - 60), M.badge_award("ralph", "Origin", ts=NOW - 90))
    hubs = await widget_hubs(store, canned_services)
    widget = await add(hubs, store, "ralph", "fedmsgs", {})
    p = await payload(hubs, widget)
    assert "<svg" in p["html"] and p["html"].count("<rect") == 2 and p["data"]["total"] == 2


@pytest.mark.parametrize(("update", "expected"), [
    ({"karma": 3, "stable_karma": 3}, True), ({"karma": 1, "stable_karma": 3}, False),
    ({"karma": 0, "stable_karma": 3, "meets_testing_requirements": True}, True),
    ({"karma": 5, "stable_karma": 0}, False), ({}, False),
])
def test_ready_for_stable(update, expected):
    """An update may go to stable when it meets the testing requirements or reached its stable karma."""
    assert ready(update) is expected


def _fedmsg_example(name):
    """The ``msg`` of one of fedmsg.meta's example Bodhi messages (real bodies from Bodhi's past)."""
    from fedmsg_meta_fedora_infrastructure.tests import bodhi

    return getattr(bodhi, name).msg["msg"]


def _schema_body(message):
    return dict(message.body)


@pytest.mark.parametrize(("body", "expected"), [
    # today's (Fedora Messaging) bodies, built with Bodhi's schema classes
    (lambda: _schema_body(S.bodhi_comment("mizmo", "ralph", "fedmsg-1-1", "FEDORA-1", "cc @nirik @duffy")),
     {"ralph"}),
    (lambda: _schema_body(S.bodhi_update_complete("duffy", "gimp-1-1", "FEDORA-2")), {"duffy"}),
    (lambda: _schema_body(S.bodhi_update_complete("duffy", "gimp-1-1", "FEDORA-2", "testing")), {"duffy"}),
    # fedmsg-era bodies: the update inside the comment, ``user`` or ``submitter``, a dict or a bare name
    (lambda: _fedmsg_example("TestBodhi4Comment"), {"kalev"}),
    (lambda: _fedmsg_example("TestBodhiUpdateEject"), {"ralph"}),
    (lambda: _fedmsg_example("LegacyTestBodhiRequestMultiplePackagesPerUpdate"), {"hadess"}),
    (lambda: M.bodhi_comment("mizmo", "ralph", "fedmsg-1-1", "FEDORA-1", "cc @nirik")["msg"], {"ralph"}),
    # no update with a submitter: None (the widget then goes by the people the message names)
    (lambda: _fedmsg_example("TestLegacy2015BodhiComment"), None),
    (lambda: {"agent": "bodhi", "repo": "f43-updates", "success": True, "ctype": "rpm"}, None),
    (lambda: {"update": {"alias": "FEDORA-3"}}, None),
    (lambda: {"update": {"user": {"name": ""}}, "comment": "not a dict"}, None),
    (lambda: ["not", "a", "dict"], None),
])
def test_update_owners(body, expected):
    """Whose updates a Bodhi message is about: the submitter of the update it carries, never the people a
    comment mentions (pure)."""
    found = update_owners(body())
    assert found == (None if expected is None else frozenset(expected))


ICS = """BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20261101T000000Z\r
DTSTART:20261103T140000Z\r\nDTEND:20261103T150000Z\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:Weekly <b>sync</b>\r
END:VEVENT\r\nBEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261001T100000Z\r\nSUMMARY:Past\r
END:VEVENT\r\nEND:VCALENDAR\r\n"""


def test_upcoming_expands_recurrences():
    """Recurring meetings are expanded; past ones are left out."""
    now = datetime.datetime(2026, 11, 20, tzinfo=datetime.UTC).timestamp()
    meetings = upcoming(ICS, now, days=30, count=3)
    starts = [datetime.datetime.fromtimestamp(m["start"], datetime.UTC).strftime("%m-%d") for m in meetings]
    assert starts == ["11-24", "12-01", "12-08"] and meetings[0]["summary"] == "Weekly <b>sync</b>"


@pytest.mark.parametrize(("hub", "plugin", "config", "check"), [
    ("ralph", "badges", {}, lambda d: d["badges"] and d["badges"][0]["issued"] >= d["badges"][-1]["issued"]),
    ("ralph", "updates2stable", {}, lambda d: all(u["url"].endswith(u["alias"]) for u in d["updates"])),
    ("designteam", "pagure", {"project": "design"}, lambda d: d["issues"] and d["total"] == 23),
    ("designteam", "meetings", {"calendar": "{base}/ical/designteam/"}, lambda d: len(d["meetings"]) == 4),
])
@pytest_twisted.ensureDeferred
async def test_outside_services(store, canned_services, hub, plugin, config, check):
    """Widgets read outside services through the async HTTP client (a local server shaped like the APIs)."""
    hubs = await widget_hubs(store, canned_services)
    config = {k: v.format(base=canned_services) if isinstance(v, str) else v for k, v in config.items()}
    p = await payload(hubs, await add(hubs, store, hub, plugin, config))
    assert "error" not in p, p
    assert check(p["data"])


@pytest.mark.parametrize(("path", "fragment"), [
    ("/broken", "answered HTTP 500"), ("/slow", "did not answer within 1 s"),
    ("http://127.0.0.1:9", "could not be reached")])
@pytest_twisted.ensureDeferred
async def test_service_failures_show_in_the_widget_frame(store, canned_services, path, fragment):
    """A failing or slow service gives a readable error in that widget only."""
    base = path if path.startswith("http") else canned_services + path
    hubs = await widget_hubs(store, base, timeout=1.0)
    badges = await add(hubs, store, "ralph", "badges", {})
    about = await add(hubs, store, "ralph", "about", {})
    failed = await payload(hubs, badges)
    assert fragment in failed["error"] and "widget-error" in failed["html"]
    assert "error" not in await payload(hubs, about)


@pytest_twisted.ensureDeferred
async def test_bad_calendar_is_a_readable_error(store, canned_services):
    """A calendar URL that is not iCalendar says so."""
    hubs = await widget_hubs(store, canned_services)
    widget = await add(hubs, store, "designteam", "meetings", {"calendar": canned_services + "/user/x/json"})
    assert "not iCalendar" in (await payload(hubs, widget))["error"]


# ---------------------------------------------------------------- escaping

XSS = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "javascript:alert(1)"]


def _text_arguments():
    for name, spec in sorted(REGISTRY.items()):
        for argument in spec.arguments:
            for attack in XSS:
                try:
                    argument.validator(attack)
                except ValueError:
                    continue
                yield name, argument.name, attack


@pytest.mark.parametrize(("plugin", "argument", "attack"), list(_text_arguments()))
@pytest_twisted.ensureDeferred
async def test_text_arguments_are_escaped(store, canned_services, plugin, argument, attack):
    """Every text argument a widget accepts comes out escaped or sanitised."""
    hubs = await widget_hubs(store, canned_services)
    widget = await add(hubs, store, "ralph", plugin, {argument: attack})
    html = (await payload(hubs, widget))["html"].lower()
    assert "<script" not in html and "<img src=x" not in html and 'href="javascript:' not in html


@pytest_twisted.ensureDeferred
async def test_message_text_is_escaped_in_the_feed(store, canned_services):
    """Text that arrives in bus messages is escaped when shown."""
    await remember(store, M.pagure_issue_new("duffy", "design", 5, '<script>alert("x")</script><img src=x onerror=y>'))
    hubs = await widget_hubs(store, canned_services)
    p = await payload(hubs, await add(hubs, store, "designteam", "feed", {}))
    assert "<script>" not in p["html"] and "&lt;script&gt;" in p["html"] and "<img src=x" not in p["html"]


@pytest_twisted.ensureDeferred
async def test_service_text_is_escaped(store, canned_services, monkeypatch):
    """Text from outside services (issue titles, badge names) is escaped too."""
    hubs = await widget_hubs(store, canned_services)

    async def evil(url, params=None):
        return {"issues": [{"id": 1, "title": "<script>x</script>", "user": {"name": "<b>u</b>"},
                            "tags": ["<i>t</i>"], "date_created": "1"}], "total_issues": 1}

    monkeypatch.setattr(hubs.ctx.http, "get_json", evil)
    p = await payload(hubs, await add(hubs, store, "designteam", "pagure", {"project": "design"}))
    assert "<script>" not in p["html"] and "<b>u</b>" not in p["html"] and "&lt;i&gt;t&lt;/i&gt;" in p["html"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/cal.ics", "http://10.1.2.3/cal.ics", "http://169.254.169.254/",
                                 "http://[::1]/cal.ics", "http://localhost/cal.ics"])
@pytest_twisted.ensureDeferred
async def test_calendar_urls_may_not_reach_private_addresses(store, canned_services, url):
    """A URL typed into a widget cannot make Hubs fetch from its own network (SSRF)."""
    hubs = await widget_hubs(store, canned_services, allow_private=False)
    widget = await add(hubs, store, "designteam", "meetings", {"calendar": url})
    assert "not a public address" in (await payload(hubs, widget))["error"]


def test_meetings_skip_sub_daily_repeats_and_huge_calendars():
    """Repeats by the hour or faster are left out (they would take ages); huge calendars are refused."""
    from hubs.widgets.meetings import MAX_EVENTS
    from hubs.widgets.util import WidgetProblem

    now = datetime.datetime(2026, 11, 20, tzinfo=datetime.UTC).timestamp()
    flood = ICS.replace("RRULE:FREQ=WEEKLY", "RRULE:FREQ=SECONDLY").replace("DTSTART:20261103", "DTSTART:20200103")
    started = time.perf_counter()
    assert upcoming(flood, now, days=30, count=3) == []
    assert time.perf_counter() - started < 1.0
    event = ("BEGIN:VEVENT\r\nUID:{n}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261201T100000Z\r\n"
             "SUMMARY:x\r\nEND:VEVENT\r\n")
    huge = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n" + "".join(
        event.format(n=n) for n in range(MAX_EVENTS + 1)) + "END:VCALENDAR\r\n"
    with pytest.raises(WidgetProblem):
        upcoming(huge, now, days=30, count=3)


@pytest.mark.parametrize(("config", "hub", "argument", "expected"), [
    ({"username": " ralph "}, "designteam", None, "ralph"),   # the stored value goes through the validator
    ({"username": "ralph"}, "mizmo", None, "ralph"),
    ({}, "mizmo", None, "mizmo"),                              # a personal hub's own person
    ({}, "designteam", None, ""),                              # a team hub names nobody
    ({"username": "Not A Name"}, "designteam", None, ""),     # invalid: nobody (data() shows the error)
    ({"username": " ralph "}, "designteam", "duffy", "duffy"),  # data() passes its validated argument
])
def test_person_of(store, config, hub, argument, expected):
    """Person widgets take their person from the one validated ``username`` argument, else the hub's person."""
    from hubs.models import Widget
    from hubs.widgets.util import person_of

    class Ctx:
        def hub(self, name):
            return store.hubs.get(name)

    assert person_of(Ctx(), Widget(99, hub, "badges", "left", 0, config), argument) == expected


def test_person_widgets_share_one_argument_and_hint():
    """Every widget with a ``username`` argument declares it the same way and is hinted by that person."""
    person_widgets = [spec for spec in REGISTRY.values() if any(a.name == "username" for a in spec.arguments)]
    assert len(person_widgets) >= 7
    for spec in person_widgets:
        argument = next(a for a in spec.arguments if a.name == "username")
        assert (argument.default, argument.kind) == ("", "username") and argument.help.startswith("Whose ")
        assert argument.validator(" ralph ") == "ralph"
