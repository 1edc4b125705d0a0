"""Widgets hear today's bus: Fedora Messaging messages, built with the services' real schema classes.

The table says, for each widget, which of today's messages must redraw it and
which must not — through the real hint index and ``should_invalidate``, with
the meaning (usernames...) taken from the schema classes as in production.
The fedmsg-era messages have the same table in tests/test_widgets.py.
"""

import pytest
import pytest_twisted
from fedora_messaging.message import Message

from hubs.bus.message import from_amqp
from hubs.demo import schema_messages as S
from hubs.widgets import load_registry
from tests.test_widgets import add, store, widget_hubs  # noqa: F401  (store is a fixture)

REGISTRY = load_registry()
CAL = {"calendar": "https://x.example/ical/designteam/"}


def role(hub, username, action="add"):
    return S.hubs_change("hubs.role.update", {"hub": hub, "username": username, "role": "member", "action": action,
                                              "agent": "mizmo"})


def poke(short_topic):
    return Message(body={"hello": 1}, topic=f"org.fedoraproject.dev.{short_topic}")


# designteam: owners mizmo and duffy, member ralph; ralph: a personal hub.
TOPICS = [
    # (hub, plugin, config, message, expected)
    ("designteam", "feed", {}, S.badge_award("ralph", "Origin"), True),                   # a member's badge
    ("designteam", "feed", {}, S.meetbot_complete("nirik", ["duffy"], "#fedora-design", "Design"), True),
    ("designteam", "feed", {}, S.fas_group_sponsor("nirik", "ralph", "design-team"), True),
    ("designteam", "feed", {}, S.pagure_issue("mizmo", "design", 7, "Logo"), True),
    ("designteam", "feed", {}, S.fedocal_meeting_new("duffy", "designteam", "Weekly"), True),
    ("designteam", "feed", {}, S.koji_build("nirik", "ansible", "1.0"), False),            # not on the team
    ("designteam", "feed", {}, S.discourse_post("jflory7", "Hello"), False),
    ("ralph", "feed", {}, S.discourse_post("ralph", "Hello"), True),                       # agent only
    ("ralph", "feed", {}, S.bodhi_comment("mizmo", "ralph", "fedmsg-1-1", "FEDORA-1", "ok"), True),
    ("ralph", "badges", {}, S.badge_award("ralph", "Origin"), True),                       # badges.badge.award
    ("ralph", "badges", {}, S.badge_award("mizmo", "Origin"), False),
    ("ralph", "badges", {}, S.bodhi_comment("mizmo", "ralph", "fedmsg-1-1", "FEDORA-1", "ok"), False),
    ("ralph", "updates2stable", {}, S.bodhi_comment("mizmo", "ralph", "fedmsg-1-1", "FEDORA-1", "ok"), True),
    ("ralph", "updates2stable", {}, S.bodhi_comment("mizmo", "duffy", "gimp-1-1", "FEDORA-2", "ok"), False),
    ("ralph", "updates2stable", {}, S.koji_build("ralph", "fedmsg", "1.0"), False),        # koji, not bodhi
    ("ralph", "updates2stable", {},
     S.bodhi_comment("mizmo", "duffy", "gimp-1-1", "FEDORA-2", "thanks @ralph"), False),  # mentioned only
    ("ralph", "updates2stable", {}, S.bodhi_update_complete("ralph", "fedmsg-1-1", "FEDORA-1"), True),
    ("ralph", "updates2stable", {}, S.bodhi_update_complete("duffy", "gimp-1-1", "FEDORA-2", "testing"), False),
    ("designteam", "pagure", {"project": "design"}, S.pagure_issue("duffy", "design", 7, "Logo"), True),
    ("designteam", "pagure", {"project": "design"}, S.pagure_issue("duffy", "design", 7, "Logo", "edit"), True),
    ("designteam", "pagure", {"project": "design"}, S.pagure_issue("duffy", "ansible", 7, "x"), False),
    ("designteam", "meetings", CAL, S.fedocal_meeting_new("mizmo", "designteam", "Weekly"), True),
    ("designteam", "meetings", CAL, S.fedocal_meeting_new("nirik", "infrastructure", "Weekly"), False),
    ("designteam", "meetings", CAL, S.meetbot_complete("mizmo", ["duffy"], "#fedora-design", "Design"), False),
    ("ralph", "fedmsgstats", {}, S.koji_build("ralph", "fedmsg", "1.0"), True),
    ("ralph", "fedmsgstats", {}, S.fas_group_sponsor("nirik", "ralph", "sysadmin"), True),
    ("ralph", "fedmsgstats", {}, S.koji_build("mizmo", "gimp", "1.0"), False),
    ("ralph", "fedmsgs", {}, S.meetbot_complete("nirik", ["ralph"], "#fedora-admin", "Infra"), True),
    ("ralph", "fedmsgs", {}, S.discourse_post("jflory7", "Hello"), False),
    ("designteam", "cobwebs", {}, S.fas_group_sponsor("nirik", "duffy", "designteam"), True),
    ("designteam", "cobwebs", {}, S.fas_group_sponsor("nirik", "puiterwijk", "sysadmin"), False),
    ("ralph", "subscriptions", {}, role("designteam", "ralph"), True),                     # Hubs' own, over AMQP
    ("ralph", "subscriptions", {}, role("designteam", "duffy"), False),
    ("designteam", "stats", {}, role("designteam", "duffy", "remove"), True),
    ("designteam", "stats", {}, role("ralph", "duffy"), False),
    ("designteam", "rules", {}, role("designteam", "duffy"), True),
    ("designteam", "rules", {}, role("ralph", "duffy"), False),
    ("ralph", "avatar", {}, S.fas_user_update("ralph", ["human_name"]), False),             # reads Hubs' own users
    ("designteam", "dummy", {"topic": "hubs.dummy.poke"}, poke("hubs.dummy.poke"), True),
    ("designteam", "dummy", {"topic": "hubs.dummy.poke"}, poke("hubs.dummy.other"), False),
    ("designteam", "about", {}, S.badge_award("mizmo", "Origin"), False),
    ("designteam", "sticky", {}, role("designteam", "duffy"), False),
]


@pytest.mark.parametrize(("hub", "plugin", "config", "message", "expected"), TOPICS,
                         ids=[f"{p}-{m.topic.split('.', 3)[3]}-{e}" for _, p, _, m, e in TOPICS])
@pytest_twisted.ensureDeferred
async def test_what_todays_messages_invalidate(store, canned_services, hub, plugin, config, message,  # noqa: F811
                                               expected):
    """A schema'd message redraws exactly the widgets it concerns (hint index, then should_invalidate)."""
    hubs = await widget_hubs(store, canned_services)
    widget = await add(hubs, store, hub, plugin, config)
    decision = hubs.handler.decide(from_amqp(message))
    assert (widget.idx in decision.hits) is expected


def test_messages_are_valid_against_their_schemas():
    """Every message in the table passes its class's JSON schema (no hand-made shapes)."""
    for *_, message, _ in TOPICS:
        message.validate()


def test_every_widget_has_cases_for_todays_topics():
    """The table covers every registered widget with a miss, and every widget that listens with a hit."""
    hits = {p for _, p, _, _, e in TOPICS if e}
    misses = {p for _, p, _, _, e in TOPICS if not e}
    assert misses == set(REGISTRY)
    assert hits == set(REGISTRY) - {"about", "sticky", "avatar"}


def test_todays_service_topics_are_all_in_the_table():
    """badges, bodhi, pagure, buildsys, meetbot, fedocal, fas, discourse and hubs all appear."""
    categories = {m.topic.split(".")[3] for *_, m, _ in TOPICS}
    assert {"badges", "bodhi", "pagure", "buildsys", "meetbot", "fedocal", "fas", "discourse", "hubs"} <= categories
