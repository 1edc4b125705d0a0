"""Memberships: who is in which group and who maintains what, in memory, refreshed, changed by the bus at once.

Pure parts first (tables of cases), then the object on fakes and an injected clock, then
the real adapters against the canned services over HTTP, and the bus path through a whole Hubs.
"""

from __future__ import annotations

import logging

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from twisted.internet.task import Clock
from twisted.python.failure import Failure

from hubs.bus.message import BusMessage
from hubs.demo import accounts
from hubs.metrics import Metrics
from hubs.services.distgit import DistGitClient, FakeDistGit
from hubs.services.fasjson import FakeFasJson, FasJsonClient
from hubs.services.http import TreqClient
from hubs.stream.memberships import (
    GroupChange,
    Memberships,
    StaticMemberships,
    changed_people,
    group_change,
    packages_by_how,
)

P = "org.fedoraproject.prod."

# ---------------------------------------------------------------- what a bus message says (pure)


@pytest.mark.parametrize(("topic", "body", "change"), [
    # noggin on Fedora Messaging: the body wraps the message in "msg".
    (P + "fas.group.member.sponsor", {"msg": {"agent": "nirik", "user": "ralph", "group": "sysadmin-main"}},
     GroupChange("add", "ralph", "sysadmin-main")),
    (P + "fas.group.member.removed", {"msg": {"agent": "nirik", "user": "ralph", "group": "sysadmin-main"}},
     GroupChange("remove", "ralph", "sysadmin-main")),
    # fedmsg: the envelope's msg itself, strings (FAS 3) or dicts (FAS 2).
    (P + "fas.group.member.remove", {"agent": "toshio", "user": "ralph", "group": "ambassadors"},
     GroupChange("remove", "ralph", "ambassadors")),
    (P + "fas.group.member.sponsor", {"agent": {"username": "toshio"}, "user": {"username": "ralph"},
                                      "group": {"name": "ambassadors"}}, GroupChange("add", "ralph", "ambassadors")),
    (P + "fas.group.member.apply", {"agent": "ralph", "user": "ralph", "group": "ambassadors"},
     GroupChange("apply", "ralph", "ambassadors")),
    ("org.fedoraproject.stg.fas.group.member.sponsor", {"user": "a.b_c-d", "group": "g+1"},
     GroupChange("add", "a.b_c-d", "g+1")),
    # Not a membership change, or unreadable.
    (P + "fas.group.member.frobnicate", {"user": "ralph", "group": "g"}, None),
    (P + "fas.user.update", {"msg": {"agent": "ralph", "user": "ralph", "fields": ["ircnick"]}}, None),
    (P + "fas.group.update", {"msg": {"agent": "ralph", "group": "g"}}, None),
    (P + "fas.group.member.sponsor", {"msg": {"user": "ralph"}}, None),
    (P + "fas.group.member.sponsor", {"msg": {"user": "", "group": "g"}}, None),
    (P + "fas.group.member.sponsor", {"msg": {"user": "two words", "group": "g"}}, None),
    (P + "fas.group.member.sponsor", {"msg": {"user": "x" * 65, "group": "g"}}, None),
    (P + "fas.group.member.sponsor", {"msg": {"user": ["ralph"], "group": "g"}}, None),
    (P + "fas.group.member.sponsor", {"msg": {"user": "ralph\n", "group": "g"}}, None),
    (P + "fas.group.member.sponsor", {"msg": {"user": {"username": 3}, "group": "g"}}, None),
    (P + "fas.group.member.sponsor", ["not", "a", "mapping"], None),
    (P + "fas.group.member.sponsor", {"msg": "text"}, None),
])
def test_group_change(topic, body, change):
    """What a fas.group.member.* message says, in every shape it came in; None for anything else."""
    assert group_change(topic, body) == change


@pytest.mark.parametrize(("listed", "groups", "listed_groups", "expected"), [
    (["a", "b"], [], [], {"a": "maintainer", "b": "maintainer"}),
    # dist-git lists group packages too: the group explains them.
    (["a", "b", "c"], ["g"], [], {"a": "maintainer", "b": "group:g", "c": "group:g"}),
    # Through several groups: the first by name says how.
    ([], ["z", "g"], [], {"b": "group:g", "c": "group:g", "d": "group:z"}),
    # Left group g since dist-git was asked: its packages go, and are not taken for direct ones.
    (["a", "b", "c"], [], ["g"], {"a": "maintainer"}),
    # Joined z since: its packages come at once.
    (["a"], ["z"], [], {"a": "maintainer", "b": "group:z", "d": "group:z"}),
    # A group dist-git does not know (no packages).
    (["a"], ["packager"], [], {"a": "maintainer"}),
    ([], [], [], {}),
])
def test_packages_by_how(listed, groups, listed_groups, expected):
    """Direct or through which group, from dist-git's list, the groups now and the groups when it was asked."""
    group_packages = {"g": ["b", "c"], "z": ["b", "d"]}
    assert packages_by_how(listed, groups, group_packages, listed_groups) == expected


@pytest.mark.parametrize(("before", "after", "changed"), [
    ({}, {}, set()),
    ({"a": {1}}, {"a": {1}}, set()),
    ({"a": {1}}, {"a": {1, 2}}, {"a"}),
    ({"a": {1}}, {}, {"a"}),
    ({}, {"b": {1}}, {"b"}),
    ({"a": {1}, "b": {2}, "c": {3}}, {"a": {1}, "b": {3}, "d": {4}}, {"b", "c", "d"}),
])
def test_changed_people(before, after, changed):
    """The people whose value differs between two snapshots."""
    assert changed_people(before, after) == changed


# ---------------------------------------------------------------- the object, on fakes


def fakes():
    fas = FakeFasJson({"ralph": {"infra-sig", "packager"}, "mizmo": {"design-sig"}, "decause": {"commops"}})
    git = FakeDistGit(direct={"ralph": {"fedmsg", "datanommer"}, "mizmo": {"fedora-logos"},
                              "decause": {"python-bleach"}},
                      groups={"infra-sig": {"fedmsg", "bodhi", "koji"}, "design-sig": {"inkscape", "gimp"},
                              "python-packagers-sig": {"python-twisted"}},
                      members={"ralph": {"infra-sig", "packager"}, "mizmo": {"design-sig"}})
    return fas, git


def now(coroutine):
    """Run a coroutine that finishes without waiting (fakes answer at once); its result."""
    d = defer.ensureDeferred(coroutine)
    assert d.called, "it waited for something"
    results: list = []
    d.addBoth(results.append)
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


def started(fas, git, people=("ralph", "mizmo", "decause"), clock=None, **kw):
    clock = clock or Clock()
    memberships = Memberships(fas, git, clock, refresh=3600, **kw)
    memberships.track(people)
    now(memberships.start())
    return memberships, clock


def message(topic: str, user: str, group: str) -> BusMessage:
    return BusMessage(topic=P + topic, id=f"{topic}-{user}-{group}", time=1.0,
                      body={"msg": {"agent": "nirik", "user": user, "group": group}}, source="amqp")


def test_the_first_round_answers_every_question():
    """After start, groups, members, packages (and how) and maintainers are answered from memory."""
    memberships, _ = started(*fakes())
    assert memberships.groups_of("ralph") == {"infra-sig", "packager"}
    assert memberships.members_of("infra-sig") == {"ralph"}
    assert memberships.members_of("nobody-group") == frozenset()
    assert memberships.packages_of("ralph") == {"datanommer": "maintainer", "fedmsg": "group:infra-sig",
                                                "bodhi": "group:infra-sig", "koji": "group:infra-sig"}
    assert memberships.maintainers_of("fedmsg") == {"ralph"}
    assert memberships.maintainers_of("inkscape") == {"mizmo"}
    assert memberships.packages_of("stranger") == {} and memberships.groups_of("stranger") == frozenset()


def test_start_does_not_wait_for_the_services():
    """start() returns while FASJSON has not answered; questions are answered (empty) meanwhile, then filled."""
    pending: list[defer.Deferred] = []

    class Slow(FakeFasJson):
        async def groups_of(self, username):
            d = defer.Deferred()
            pending.append(d)
            await d
            return ["infra-sig"]

    fas, git = fakes()
    memberships, _ = started(Slow(), git, people=["ralph"])
    assert len(pending) == 1 and memberships.groups_of("ralph") == frozenset()
    pending[0].callback(None)
    assert memberships.groups_of("ralph") == {"infra-sig"}
    assert memberships.packages_of("ralph")["bodhi"] == "group:infra-sig"


def test_concurrency_is_bounded():
    """At most ``concurrency`` people are asked about at once."""
    pending: list[defer.Deferred] = []

    class Slow(FakeFasJson):
        async def groups_of(self, username):
            d = defer.Deferred()
            pending.append(d)
            await d
            return []

    fas, git = fakes()
    started(Slow(), git, people=[f"p{n}" for n in range(10)], concurrency=3)
    assert len(pending) == 3
    pending[0].callback(None)
    assert len(pending) == 4


def test_thousands_of_people_wait_in_order_not_all_at_once_and_stop_is_cheap():
    """A round over thousands of people keeps only ``concurrency`` questions (and no Deferred per person)
    waiting, so stopping cancels a handful, not thousands (it was quadratic: seconds of a stalled reactor at
    the end of the storm benchmark). Stop cancels the questions under way and nobody else is asked."""
    pending: list[defer.Deferred] = []

    class Silent(FakeFasJson):
        async def groups_of(self, username):
            d = defer.Deferred()
            pending.append(d)
            return await d

    fas, git = fakes()
    memberships, _ = started(Silent(), git, people=[f"p{n}" for n in range(5000)], concurrency=4)
    assert len(pending) == 4
    assert len(memberships._limit.waiting) == 0  # the workers, not 4,996 waiters on the semaphore
    pending[0].callback(["packager"])
    assert len(pending) == 5
    memberships.stop()
    assert all(d.called for d in pending)  # cancelled
    assert len(pending) == 5 and not memberships._running


def test_refresh_on_the_clock_tells_who_changed():
    """Every refresh interval the tracked people are asked again; listeners hear exactly who changed."""
    fas, git = fakes()
    memberships, clock = started(fas, git)
    heard: list[set[str]] = []
    memberships.on_change(heard.append)
    fas.groups["mizmo"].add("fonts-sig")
    git.groups["fonts-sig"] = {"dejavu-fonts"}
    git.groups["infra-sig"].add("ansible")  # ralph's through a group
    clock.advance(3599)
    assert heard == [] and "fonts-sig" not in memberships.groups_of("mizmo")
    clock.advance(1)
    assert heard == [{"mizmo", "ralph"}]
    assert memberships.packages_of("mizmo")["dejavu-fonts"] == "group:fonts-sig"
    assert memberships.maintainers_of("ansible") == {"ralph"}
    clock.advance(3600)
    assert heard == [{"mizmo", "ralph"}]  # nothing changed: nobody told
    assert memberships.rounds == 3


def test_a_service_that_is_down_keeps_the_last_answers(caplog):
    """FASJSON and dist-git down: answers stay, one warning per service for the whole outage, counted; back: one
    line."""
    fas, git = fakes()
    metrics = Metrics()
    memberships, clock = started(fas, git, metrics=metrics)
    before = (memberships.groups_of("ralph"), dict(memberships.packages_of("ralph")))
    fas.failing = git.failing = True
    with caplog.at_level(logging.INFO, logger="hubs.stream.memberships"):
        for _ in range(3):
            clock.advance(3600)
        assert (memberships.groups_of("ralph"), memberships.packages_of("ralph")) == before
        assert [(r.levelname, r.getMessage().split()[0]) for r in caplog.records] == [
            ("WARNING", "fasjson"), ("WARNING", "distgit")]
        assert "streams keep the last known" in caplog.records[0].getMessage()
        fas.failing = git.failing = False
        clock.advance(3600)
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING", "INFO", "INFO"]
    assert metrics.membership_fetches.labels("fasjson", "failed")._value.get() == 9
    assert metrics.membership_fetches.labels("fasjson", "ok")._value.get() == 6
    assert metrics.membership_people._value.get() == 3


def test_only_dist_git_down_keeps_packages_and_updates_groups():
    """With dist-git down, a group change from FASJSON still applies; the packages known stay."""
    fas, git = fakes()
    memberships, clock = started(fas, git)
    git.failing = True
    fas.groups["ralph"].discard("infra-sig")
    clock.advance(3600)
    assert memberships.groups_of("ralph") == {"packager"}
    assert memberships.members_of("infra-sig") == frozenset()
    assert memberships.packages_of("ralph") == {"datanommer": "maintainer"}


def test_a_person_tracked_later_is_fetched_at_once():
    """track() after start fetches the new people on the next reactor turn, not at the next round."""
    fas, git = fakes()
    memberships, clock = started(fas, git, people=["ralph"])
    heard: list[set[str]] = []
    memberships.on_change(heard.append)
    memberships.track(["ralph", "mizmo"])
    assert memberships.groups_of("mizmo") == frozenset()
    clock.advance(0)
    assert memberships.groups_of("mizmo") == {"design-sig"} and heard == [{"mizmo"}]
    assert memberships.maintainers_of("gimp") == {"mizmo"}


# ---------------------------------------------------------------- the bus


def test_a_sponsor_message_applies_at_once():
    """A sponsor message adds the group and its packages at once, tells the listeners, and says it changed."""
    fas, git = fakes()
    memberships, _ = started(fas, git)
    heard: list[set[str]] = []
    memberships.on_change(heard.append)
    assert memberships.apply_message(message("fas.group.member.sponsor", "mizmo", "infra-sig")) is True
    assert memberships.groups_of("mizmo") == {"design-sig", "infra-sig"}
    assert memberships.members_of("infra-sig") == {"ralph", "mizmo"}
    assert memberships.maintainers_of("koji") == {"ralph", "mizmo"}
    assert memberships.packages_of("mizmo")["koji"] == "group:infra-sig"
    assert heard == [{"mizmo"}]
    assert memberships.apply_message(message("fas.group.member.sponsor", "mizmo", "infra-sig")) is False
    assert heard == [{"mizmo"}]


def test_a_removal_applies_at_once():
    """A removal takes the group and the packages it gave away; direct packages stay."""
    memberships, _ = started(*fakes())
    assert memberships.apply_message(message("fas.group.member.removed", "ralph", "infra-sig")) is True
    assert memberships.groups_of("ralph") == {"packager"}
    assert memberships.packages_of("ralph") == {"datanommer": "maintainer"}
    assert memberships.maintainers_of("fedmsg") == frozenset()
    assert memberships.members_of("infra-sig") == frozenset()


def test_joining_a_group_of_unknown_packages_asks_dist_git():
    """A group whose packages were never asked for is asked at once; its packages follow, with a second change."""
    fas, git = fakes()
    memberships, _ = started(fas, git)
    heard: list[set[str]] = []
    memberships.on_change(heard.append)
    calls = git.calls
    assert memberships.apply_message(message("fas.group.member.sponsor", "decause", "python-packagers-sig"))
    assert git.calls == calls + 1
    assert memberships.packages_of("decause")["python-twisted"] == "group:python-packagers-sig"
    assert heard == [{"decause"}, {"decause"}]


@pytest.mark.parametrize(("topic", "user", "group"), [
    ("fas.group.member.apply", "ralph", "ambassadors"),  # asked to join: not a member yet
    ("fas.group.member.sponsor", "stranger", "infra-sig"),  # not tracked
    ("fas.group.member.removed", "ralph", "commops"),  # was not in it
    ("fas.user.update", "ralph", "infra-sig"),
])
def test_messages_that_change_nothing(topic, user, group):
    """An application, an untracked person, a removal from a group they were not in: False, nothing told."""
    memberships, _ = started(*fakes())
    heard: list[set[str]] = []
    memberships.on_change(heard.append)
    before = memberships.groups_of(user)
    assert memberships.apply_message(message(topic, user, group)) is False
    assert memberships.groups_of(user) == before and heard == []


def test_a_bus_message_beats_the_refresh_that_was_under_way():
    """A change heard on the bus while FASJSON was being asked is not undone by FASJSON's older answer."""
    pending: list[defer.Deferred] = []
    fas, git = fakes()

    class Slow(FakeFasJson):
        async def groups_of(self, username):
            d = defer.Deferred()
            pending.append(d)
            await d
            return sorted(fas.groups[username])

    memberships, clock = started(fas, git, people=["ralph"])
    memberships.fasjson = Slow()
    clock.advance(3600)  # a round starts, FASJSON is slow
    assert memberships.apply_message(message("fas.group.member.sponsor", "ralph", "design-sig"))
    pending[0].callback(None)  # answers without design-sig: it was asked before the change
    assert "design-sig" in memberships.groups_of("ralph")


def test_static_memberships_answer_and_hear_the_bus():
    """StaticMemberships (tests, benchmarks) answers from its tables and applies bus messages like the real one."""
    memberships = StaticMemberships(groups={"ralph": ["infra"], "mizmo": ["design"]},
                                    direct={"ralph": ["datanommer"], "lmacken": ["bodhi"]},
                                    group_packages={"infra": ["fedmsg", "bodhi"], "design": ["gimp"]})
    assert memberships.packages_of("ralph") == {"datanommer": "maintainer", "fedmsg": "group:infra",
                                                "bodhi": "group:infra"}
    assert memberships.maintainers_of("bodhi") == {"ralph", "lmacken"}
    assert memberships.members_of("design") == {"mizmo"}
    assert memberships.apply_message(message("fas.group.member.sponsor", "lmacken", "infra"))
    assert memberships.maintainers_of("fedmsg") == {"ralph", "lmacken"}
    now(memberships.start())  # nothing to fetch: a no-op
    memberships.stop()


# ---------------------------------------------------------------- the real adapters, over HTTP


@pytest_twisted.ensureDeferred
async def test_memberships_from_the_canned_services(canned_services):
    """Through the real clients and the canned FASJSON and dist-git, every demo person's stream has what to say."""
    http = TreqClient(reactor, 2.0)
    memberships = Memberships(FasJsonClient(http, canned_services), DistGitClient(http, canned_services), reactor)
    memberships.track(accounts.PEOPLE)
    changed = await memberships.refresh()
    assert changed == set(accounts.PEOPLE)
    for person in accounts.PEOPLE:
        assert memberships.groups_of(person) == set(accounts.groups_of(person))
        assert set(memberships.packages_of(person)) == set(accounts.packages_of_user(person))
        assert 5 <= len(memberships.packages_of(person)) <= 30 and 2 <= len(memberships.groups_of(person)) <= 5
    assert memberships.packages_of("ralph")["datanommer"] == "maintainer"
    assert memberships.packages_of("ralph")["koji"] == "group:infra-sig"
    assert memberships.packages_of("mizmo")["inkscape"] == "group:design-sig"
    # The demo feed's packages all have maintainers among the demo people.
    from hubs.demo.feed import PACKAGES

    assert all(memberships.maintainers_of(p) for p in PACKAGES)
    assert await memberships.refresh() == set()  # asked again: nothing changed


# ---------------------------------------------------------------- wired into a whole Hubs


@pytest_twisted.ensureDeferred
async def test_group_changes_on_either_bus_reach_the_memberships(config, fake_store, fake_cache, fake_bus, clock):
    """The message handler applies fas.group.member.* at once, from Fedora Messaging and from fedmsg."""
    from hubs.demo.messages import envelope
    from hubs.testing.harness import make_hubs

    memberships = StaticMemberships(groups={"ralph": ["packager"]}, group_packages={"infra-sig": ["koji"]})
    hubs = await make_hubs(config, fake_store, fake_cache, fake_bus, clock, memberships=memberships)
    await hubs.handler.take(message("fas.group.member.sponsor", "ralph", "infra-sig"))
    assert memberships.groups_of("ralph") == {"packager", "infra-sig"}
    assert memberships.maintainers_of("koji") == {"ralph"}
    await hubs.fedmsg.take(envelope("fas.group.member.remove", {"agent": "nirik", "user": "ralph",
                                                                 "group": "packager"}))
    assert memberships.groups_of("ralph") == {"infra-sig"}


@pytest_twisted.ensureDeferred
async def test_hub_people_are_tracked_and_new_ones_as_they_come(hubs, fake_store):
    """Everyone with a role on a hub and the person of a personal hub is tracked; a new subscriber at once."""
    from hubs.stream.upkeep import tracked_people

    assert tracked_people(hubs.directory, demo=False) == {"mizmo", "duffy", "ryanlerch", "ralph"}
    assert tracked_people(hubs.directory, demo=True) >= set(accounts.PEOPLE)
    await fake_store.upsert_user("lmacken", "", "")
    await fake_store.set_role("designteam", "lmacken", "subscriber", True)
    await hubs.directory.reload_hub("designteam")
    assert "lmacken" in hubs.memberships.tracked


@pytest_twisted.ensureDeferred
async def test_a_refresh_waiting_on_a_silent_service_holds_nothing(canned_services):
    """FASJSON not answering: start returns, the reactor goes on turning, questions are answered; stop drops it."""
    http = TreqClient(reactor, 30.0)
    memberships = Memberships(FasJsonClient(http, canned_services + "/slow"), DistGitClient(http, canned_services),
                              reactor)
    memberships.track(["ralph"])
    await memberships.start()
    ticks = []
    for n in range(3):
        await task.deferLater(reactor, 0.01, ticks.append, n)
    assert ticks == [0, 1, 2] and memberships.rounds == 0 and memberships.groups_of("ralph") == frozenset()
    assert len(memberships._running) == 1
    memberships.stop()
    assert not memberships._running
