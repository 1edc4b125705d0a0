"""Who a message concerns and why (ConcernIndex), from one table of cases; views and reason texts."""

import pytest

from hubs.bus.message import BusMessage
from hubs.stream.concern import ConcernIndex, message_groups
from hubs.stream.memberships import StaticMemberships
from hubs.stream.model import Item, Reason, in_view, needs_me, reason_text

R = Reason
PREFIX = "org.fedoraproject.prod."


def message(topic="bodhi.update.comment", agent="", usernames=(), packages=(), body=None):
    return BusMessage(topic=PREFIX + topic, id="x", time=1.0, agent=agent, usernames=frozenset(usernames),
                      packages=frozenset(packages), body=body or {})


def index():
    memberships = StaticMemberships(groups={"mizmo": {"designteam"}, "duffy": {"designteam", "infra"}},
                                    direct={"ralph": {"fedmsg"}}, group_packages={"designteam": {"inkscape"}})
    idx = ConcernIndex(memberships)
    idx.set_follows("tiny", [("person", "ralph"), ("package", "gimp"), ("hub", "designteam")])
    idx.set_hub("designteam", shows=["mizmo", "duffy"], audience=["mizmo", "duffy", "sub"])
    idx.set_hub("ralph", shows=["ralph"], audience=["ralph"])
    return idx


# (what, message, personal reasons, the things whose rows show it): a hub's entries are written once per hub,
# a followed person's or package's once per thing ("person:P", "package:K"; only when someone follows it),
# their audiences and followers read them (``hubs_of``), so ``concerns`` never expands a hub or a follow.
CASES = [
    ("my own action", message(agent="ralph", usernames=["ralph"]),
     {"ralph": (R("actor"),)}, ("person:ralph", "ralph")),
    ("named by someone else's act", message(agent="pingou", usernames=["pingou", "ralph"]),
     {"pingou": (R("actor"),), "ralph": (R("mentioned"),)}, ("person:ralph", "ralph")),
    ("a package I maintain directly", message(packages=["fedmsg"]), {"ralph": (R("package", "fedmsg"),)}, ()),
    ("a package of my group", message(packages=["inkscape"]),
     {"mizmo": (R("package", "inkscape"),), "duffy": (R("package", "inkscape"),)}, ()),
    ("a followed package", message(packages=["gimp"]), {}, ("package:gimp",)),
    ("a package nobody follows", message(packages=["fedmsg", "nobodys"]), {"ralph": (R("package", "fedmsg"),)}, ()),
    ("a named person nobody follows", message(agent="pingou", usernames=["adamw"]),
     {"pingou": (R("actor"),), "adamw": (R("mentioned"),)}, ()),
    ("a group's change", message("fas.group.member.sponsor", body={"msg": {"group": "infra", "user": "x"}}),
     {"duffy": (R("group", "infra"),)}, ()),
    ("a hub's feed shows its people", message(usernames=["mizmo"]), {"mizmo": (R("mentioned"),)}, ("designteam",)),
    ("two hubs' feeds and a followed person", message(agent="ralph", usernames=["duffy"], packages=["gimp"]),
     {"ralph": (R("actor"),), "duffy": (R("mentioned"),)}, ("designteam", "package:gimp", "person:ralph", "ralph")),
    ("nobody", message(usernames=[], packages=["nothing"]), {}, ()),
    ("Hubs' own stream messages", message("hubs.stream.update", agent="ralph", usernames=["ralph"]), {}, ()),
]


@pytest.mark.parametrize("what, msg, expected, hubs", CASES, ids=[c[0] for c in CASES])
def test_concerns(what, msg, expected, hubs):
    """Each rule gives its reason to the people it names, and nobody else; a hub's feed names the hub."""
    idx = index()
    assert idx.concerns(msg) == expected
    assert idx.feed_hubs(msg) == hubs


def test_a_persons_hubs_with_why():
    """Owner, member or subscriber: "hub"; followed: "follow-hub"; both: both; a gone hub: nothing; a followed
    person or package: its thing with "follow-person" / "follow-package"."""
    idx = index()
    idx.set_follows("sub", [("hub", "designteam"), ("hub", "gone")])
    assert idx.hubs_of("sub") == {"designteam": (R("hub", "designteam"), R("follow-hub", "designteam"))}
    assert idx.hubs_of("tiny") == {"designteam": (R("follow-hub", "designteam"),),
                                   "person:ralph": (R("follow-person", "ralph"),),
                                   "package:gimp": (R("follow-package", "gimp"),)}
    assert idx.hubs_of("ralph") == {"ralph": (R("hub", "ralph"),)}
    assert idx.hubs_of("nobody") == {}


MUTES = [
    (("package", "fedmsg"), message(packages=["fedmsg"]), True),
    (("service", "bodhi"), message(packages=["fedmsg"]), True),
    (("service", "koji"), message(packages=["fedmsg"]), False),
    (("topic", PREFIX + "bodhi.*"), message(packages=["fedmsg"]), True),
    (("topic", PREFIX + "bodhi.update.comment"), message(packages=["fedmsg"]), True),
    (("topic", "*.koji.*"), message(packages=["fedmsg"]), False),
    (("person", "pingou"), message(agent="pingou", packages=["fedmsg"]), True),
    (("person", "pingou"), message(agent="adamw", usernames=["pingou"], packages=["fedmsg"]), False),
]


@pytest.mark.parametrize("mute, msg, hidden", MUTES)
def test_mutes_hide_future_items(mute, msg, hidden):  # personal reasons; things' rows: mutes at read time
    """A mute (package, service, topic glob, person acting) hides a message from its owner only."""
    idx = index()
    idx.set_mutes("ralph", [mute])
    assert ("ralph" not in idx.concerns(msg)) == hidden
    idx.set_mutes("ralph", [])
    assert "ralph" in idx.concerns(msg)


def test_follows_and_hubs_update_incrementally():
    """Unfollowing, a hub's new people and a dropped hub change the answers at once."""
    idx = index()
    idx.set_follows("tiny", [("package", "gimp")])
    assert "tiny" not in idx.concerns(message(agent="ralph"))
    assert idx.feed_hubs(message(agent="ralph")) == ("ralph",)  # nobody follows ralph now: no row for him
    assert idx.follows_of("tiny") == frozenset({("package", "gimp")})
    # unfollowed: the hub's and ralph's items leave the stream
    assert idx.hubs_of("tiny") == {"package:gimp": (R("follow-package", "gimp"),)}
    idx.set_hub("designteam", shows=["mizmo", "ralph"], audience=["sub"])
    assert idx.concerns(message(usernames=["duffy"])) == {"duffy": (R("mentioned"),)}
    assert idx.feed_hubs(message(usernames=["duffy"])) == ()
    assert idx.feed_hubs(message(agent="x", usernames=["ralph"])) == ("designteam", "ralph")
    assert idx.hubs_of("sub") == {"designteam": (R("hub", "designteam"),)} and idx.hubs_of("mizmo") == {}
    idx.drop_hub("designteam")
    assert idx.feed_hubs(message(agent="x", usernames=["ralph"])) == ("ralph",) and idx.hubs_of("sub") == {}


def test_listening_people_by_hub_follow_their_changes():
    """Only people with a stream open are kept by hub; joining, leaving, following and closing move them."""
    idx = index()
    assert idx.listening_to(["designteam"]) == {}
    idx.listen("tiny")
    idx.listen("sub")
    idx.listen("ralph")
    assert idx.listening_to(["designteam", "ralph"]) == {"tiny": (R("follow-hub", "designteam"),),
                                                         "sub": (R("hub", "designteam"),),
                                                         "ralph": (R("hub", "ralph"),)}
    idx.set_follows("sub", [("hub", "designteam")])
    assert idx.listening_to(["designteam"])["sub"] == (R("hub", "designteam"), R("follow-hub", "designteam"))
    assert idx.listening_to(["person:ralph", "package:gimp"]) == {
        "tiny": (R("follow-person", "ralph"), R("follow-package", "gimp"))}
    idx.set_follows("tiny", [])
    assert idx.listening_to(["person:ralph"]) == {} and idx.listeners_of("package:gimp") == frozenset()
    idx.set_hub("designteam", shows=["mizmo"], audience=["late"])
    assert idx.listening_to(["designteam"]) == {"sub": (R("follow-hub", "designteam"),)}
    idx.listen("late")
    assert set(idx.listening_to(["designteam"])) == {"sub", "late"}
    idx.unlisten("sub")
    assert idx.listeners_of("designteam") == frozenset({"late"})
    idx.drop_hub("designteam")
    assert idx.listening_to(["designteam"]) == {}


def test_a_message_in_thousands_of_hubs_costs_no_audience_walk():
    """Issue 19's storm: one person shown on 2,187 hubs with 100 people each; deciding gives the hubs and the
    personal reasons only (no entry for the 218,700 people of their audiences)."""
    idx = ConcernIndex(StaticMemberships())
    for n in range(2187):
        idx.set_hub(f"h{n}", shows=["ralph"], audience=[f"p{n}-{i}" for i in range(100)])
    storm = message(agent="ralph", usernames=["ralph"])
    assert idx.concerns(storm) == {"ralph": (R("actor"),)}
    assert len(idx.feed_hubs(storm)) == 2187


def test_memberships_are_asked_at_decision_time():
    """A person who joins a group gets its packages' messages from then on (nothing to rebuild in the index)."""
    class Changing:
        maintainers: dict = {}

        def maintainers_of(self, package):
            return frozenset(self.maintainers.get(package, ()))

        def members_of(self, group):
            return frozenset()

    memberships = Changing()
    idx = ConcernIndex(memberships)
    assert idx.concerns(message(packages=["inkscape"])) == {}
    memberships.maintainers = {"inkscape": {"newbie"}}
    assert idx.concerns(message(packages=["inkscape"]))["newbie"] == (R("package", "inkscape"),)


@pytest.mark.parametrize("body, groups", [
    ({"msg": {"group": "infra"}}, ("infra",)),
    ({"group": {"name": "qa"}}, ("qa",)),
    ({"groups": ["a", "b", 3]}, ("a", "b")),
    ({"group": 7}, ()),
    ({}, ()),
])
def test_message_groups(body, groups):
    """Groups are read from a body's group/groups fields, whatever else is there."""
    assert message_groups(message(body=body)) == groups


VIEWS = [
    ((R("mentioned"),), {}, {"everything", "needs-me"}),
    ((R("actor"), R("package", "p")), {}, {"everything", "mine"}),
    ((R("hub", "h"),), {}, {"everything"}),
    ((R("group", "g"),), {"done": True}, {"done"}),
    ((R("group", "g"),), {"saved": True}, {"everything", "needs-me", "saved"}),
    ((R("group", "g"),), {"snoozed_until": 5.0}, set()),
]


@pytest.mark.parametrize("reasons, state, views", VIEWS)
def test_views(reasons, state, views):
    """Which views show an item, from its reasons and state."""
    item = Item(id=1, person="p", reasons=reasons, **state)
    assert {v for v in ("everything", "needs-me", "mine", "saved", "done") if in_view(item, v)} == views
    assert needs_me(reasons) == ("needs-me" in views or (bool(state) and not any(r.kind == "actor" for r in reasons)
                                                          and any(r.kind in ("mentioned", "package", "group")
                                                                  for r in reasons)))


@pytest.mark.parametrize("reason, text", [
    (R("package", "python-pymemcache"), "because you maintain python-pymemcache"),
    (R("follow-person", "ralph"), "because you follow ralph"),
    (R("mentioned"), "you were mentioned"),
    (R("hub", "designteam"), "because it shows on the designteam hub"),
])
def test_reason_text(reason, text):
    """The card's sentence says why."""
    assert reason_text(reason) == text
