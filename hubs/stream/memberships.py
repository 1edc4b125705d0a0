"""Who is in which group and who maintains which package: held in memory, answered at once.

A person's stream needs, for every bus message, the people in a group and the
maintainers of a package; ``Memberships`` answers those from memory (no I/O,
safe in the reactor) and keeps them fresh in the background:

- every ``hubs.fasjson.refresh`` seconds, for the people it tracks (signed-in
  people, hub members, the demo people: ``track``), it asks FASJSON for their
  groups, dist-git for the packages of those groups and for the packages each
  person can commit to — at most ``hubs.fasjson.concurrency`` people at once, each
  host also bounded by the HTTP client;
- a ``fas.group.member.*`` bus message (noggin) applies at once (``apply_message``);
- a service that is down changes nothing: the last known answers stay, one log line
  says so (and one when it is back), ``hubs_membership_fetches_total`` counts.

Whoever must know (the stream's concern index) registers with ``on_change`` and
gets the usernames whose groups or packages changed. The decisions are pure
functions with tables of cases in ``tests/test_memberships.py``: ``group_change``
(what a bus message says), ``packages_by_how`` (direct or through which group)
and ``changed_people``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer, task
from twisted.python.failure import Failure

from hubs.logsafe import quote
from hubs.services.distgit import DistGitClient
from hubs.services.fasjson import FasJsonClient, gssapi_auth
from hubs.services.http import ServiceError

log = logging.getLogger(__name__)

EMPTY: frozenset[str] = frozenset()
MAINTAINER = "maintainer"

# ---------------------------------------------------------------- what a bus message says (pure)

MEMBER_TOPIC = "fas.group.member."
# noggin: sponsor (a sponsor added the person), removed; FAS 2 (fedmsg era): sponsor, remove, apply.
ACTIONS = {"sponsor": "add", "add": "add", "remove": "remove", "removed": "remove", "apply": "apply"}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


@dataclass(frozen=True)
class GroupChange:
    """What one ``fas.group.member.*`` message says: ``action`` (add, remove, apply) ``user`` in ``group``."""

    action: str
    user: str
    group: str


def _name(value: Any, *keys: str) -> str | None:
    """A username or group name, given as a string (noggin) or ``{"username"|"name": ...}`` (FAS 2)."""
    if isinstance(value, Mapping):
        value = next((value[k] for k in keys if isinstance(value.get(k), str)), None)
    return value if isinstance(value, str) and NAME.fullmatch(value) else None


def group_change(topic: str, body: Any) -> GroupChange | None:
    """The membership change a bus message announces, or None (not one, or malformed) (pure).

    Topics end in ``fas.group.member.<action>``; the body is noggin's ``{"msg": {"user", "group", "agent"}}``
    (Fedora Messaging) or that ``msg`` itself (a fedmsg envelope's).
    """
    if not isinstance(topic, str) or MEMBER_TOPIC not in topic:
        return None
    action = ACTIONS.get(topic.rsplit(".", 1)[-1])
    if action is None or not isinstance(body, Mapping):
        return None
    msg = body.get("msg") if isinstance(body.get("msg"), Mapping) else body
    user, group = _name(msg.get("user"), "username", "name"), _name(msg.get("group"), "name", "groupname")
    if user is None or group is None:
        return None
    return GroupChange(action, user, group)


# ---------------------------------------------------------------- who maintains what (pure)


def packages_by_how(listed: Iterable[str], groups: Iterable[str], group_packages: Mapping[str, Iterable[str]],
                    listed_groups: Iterable[str] = ()) -> dict[str, str]:
    """Package → how a person maintains it: ``"maintainer"`` or ``"group:<g>"`` (the first group by name) (pure).

    ``listed`` is dist-git's answer for the person, which includes what their groups
    (``listed_groups``: their groups when it was asked) can commit to: a listed package
    that one of those groups explains is not theirs directly. ``groups`` are their groups now.
    """
    explained = {p for g in {*groups, *listed_groups} for p in group_packages.get(g, ())}
    how = {p: MAINTAINER for p in listed if p not in explained}
    for group in sorted(groups):
        label = _label(group)
        for package in group_packages.get(group, ()):
            how.setdefault(package, label)
    return how


_LABELS: dict[str, str] = {}


def _label(group: str) -> str:
    """``group:<g>``, one string per group however many people and packages share it (memory at scale)."""
    label = _LABELS.get(group)
    if label is None:
        label = f"group:{group}"
        if len(_LABELS) < 100_000:
            _LABELS[group] = label
    return label


def changed_people(before: Mapping[str, Any], after: Mapping[str, Any]) -> set[str]:
    """The people whose value differs between two mappings (added, removed or changed) (pure)."""
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


# ---------------------------------------------------------------- the memberships


class Memberships:
    """Groups and packages of the tracked people, in memory; refreshed from ``fasjson`` and ``distgit``.

    ``fasjson``/``distgit`` are ``hubs.services.fasjson.FasJson``/``hubs.services.distgit.DistGit``
    (None: nothing is fetched; ``StaticMemberships`` fills it by hand).
    """

    def __init__(self, fasjson: Any = None, distgit: Any = None, clock: Any = None, *, refresh: float = 3600.0,
                 concurrency: int = 4, metrics: Any = None):
        self.fasjson = fasjson
        self.distgit = distgit
        self.clock = clock
        self.refresh_interval = refresh
        self.concurrency = concurrency
        self.metrics = metrics
        self.tracked: set[str] = set()
        self._groups: dict[str, frozenset[str]] = {}  # person → groups now
        self._listed: dict[str, tuple[frozenset[str], frozenset[str]]] = {}  # person → (dist-git list, groups then)
        self._group_packages: dict[str, frozenset[str]] = {}
        self._packages: dict[str, dict[str, str]] = {}
        self._members: dict[str, frozenset[str]] = {}
        self._in_groups: dict[str, frozenset[str]] = {}  # person → the groups whose members include them
        self._maintainers: dict[str, frozenset[str]] = {}
        self._told_by_bus: dict[str, float] = {}  # person → when a bus message last changed their groups
        self._listeners: list[Callable[[set[str]], Any]] = []
        self._down: dict[str, str] = {}  # service → why (logged once)
        self._loop: task.LoopingCall | None = None
        self._pending: set[str] = set()
        self._pending_call: Any = None
        self._running: set[defer.Deferred] = set()
        self._limit = defer.DeferredSemaphore(concurrency)  # questions under way, whatever asked them
        self.rounds = 0

    # ------------------------------------------------------------ answers (no I/O)

    def groups_of(self, username: str) -> frozenset[str]:
        return self._groups.get(username, EMPTY)

    def members_of(self, group: str) -> frozenset[str]:
        """The tracked people in ``group``."""
        return self._members.get(group, EMPTY)

    def packages_of(self, username: str) -> dict[str, str]:
        """Package → ``"maintainer"`` or ``"group:<g>"`` (read-only: do not modify it)."""
        return self._packages.get(username, {})

    def maintainers_of(self, package: str) -> frozenset[str]:
        """The tracked people who maintain ``package``, directly or through a group."""
        return self._maintainers.get(package, EMPTY)

    def on_change(self, callback: Callable[[set[str]], Any]) -> None:
        """``callback(usernames)`` after each change of who is in what (a refresh, a bus message)."""
        self._listeners.append(callback)

    # ------------------------------------------------------------ bus messages

    def apply_message(self, message: Any) -> bool:
        """Apply a ``fas.group.member.*`` message at once; True if it changed someone's groups.

        Only people whose groups are known change (others are fetched when tracked). A group
        whose packages are unknown is asked of dist-git in the background (another change follows).
        """
        change = group_change(message.topic, message.body)
        if change is None or change.action == "apply" or change.user not in self._groups:
            return False
        before = self._groups[change.user]
        after = before | {change.group} if change.action == "add" else before - {change.group}
        if after == before:
            return False
        self._groups[change.user] = after
        self._told_by_bus[change.user] = self._now()
        self._reindex(change.user)
        log.info("%s %s group %s (bus)", quote(change.user, 64), "joined" if change.action == "add" else "left",
                 quote(change.group, 64))
        if change.action == "add" and change.group not in self._group_packages and self.distgit is not None:
            self._background(self._refresh_groups({change.group}, only_unknown=True), "group packages")
        self._tell({change.user})
        return True

    # ------------------------------------------------------------ tracking and refreshing

    def track(self, usernames: Iterable[str]) -> None:
        """Ask that these people's groups and packages be held (fetched soon if new)."""
        new = {u for u in usernames if isinstance(u, str) and u} - self.tracked
        if not new:
            return
        self.tracked |= new
        if self._loop is None:
            return  # not started: the first round fetches everyone
        self._pending |= new
        if self._pending_call is None:
            self._pending_call = self.clock.callLater(0, self._fetch_pending)

    def _fetch_pending(self) -> None:
        self._pending_call = None
        people, self._pending = self._pending, set()
        self._background(self.refresh(people), "new people")

    async def start(self) -> None:
        """Start refreshing in the background (the first round now); returns at once."""
        if self._loop is not None or self.fasjson is None or self.refresh_interval <= 0:
            return  # nothing to fetch with, or refreshing is off (hubs.fasjson.refresh = 0)
        self._loop = task.LoopingCall(lambda: self._background(self.refresh(), "refresh"))
        self._loop.clock = self.clock
        self._loop.start(self.refresh_interval, now=True).addErrback(
            lambda f: log.error("memberships refresh loop died: %s", f.getErrorMessage()))

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        if self._pending_call is not None and self._pending_call.active():
            self._pending_call.cancel()
        self._pending_call = None
        for d in list(self._running):
            d.cancel()  # fetches under way are dropped (their connections closed)

    def _background(self, coroutine, what: str) -> defer.Deferred:
        """Run a refresh without anyone waiting on it; ``stop`` cancels it, failures are logged."""
        d = defer.ensureDeferred(coroutine)
        self._running.add(d)

        def done(result):
            self._running.discard(d)
            if isinstance(result, Failure) and not result.check(defer.CancelledError):
                log.error("memberships %s failed: %s", what, result.getTraceback())

        d.addBoth(done)
        return d

    async def refresh(self, people: Iterable[str] | None = None) -> set[str]:
        """One round for ``people`` (default: everyone tracked): groups, then their groups' packages, then each
        person's packages. Returns (and tells ``on_change``) the people whose groups or packages changed."""
        people = sorted(self.tracked if people is None else people)
        started = self._now()
        fetched: dict[str, frozenset[str]] = {}

        async def groups(person: str) -> None:
            answer = await self._ask("fasjson", self.fasjson.groups_of, person)
            if answer is not None:
                fetched[person] = frozenset(answer)

        await self._all(groups, people)
        # A bus message that changed someone while FASJSON was asked is newer than its answer.
        fresh = {p: a for p, a in fetched.items() if self._told_by_bus.get(p, float("-inf")) < started}
        changed = changed_people({p: self._groups.get(p) for p in fresh}, fresh)
        self._groups.update(fresh)
        wanted = {g for p in people for g in self._groups.get(p, ())}
        changed |= await self._refresh_groups(wanted, tell=False)

        async def packages(person: str) -> None:
            if person not in self._groups:
                return  # FASJSON never answered for them: nothing to say yet
            if self.distgit is not None:
                answer = await self._ask("distgit", self.distgit.packages_of_user, person)
                if answer is not None:
                    self._listed[person] = (frozenset(answer), self._groups[person])
            if self._reindex(person):  # as each answer arrives: the work is spread over reactor turns
                changed.add(person)

        await self._all(packages, people)
        self.rounds += 1
        if self.metrics is not None:
            self.metrics.membership_people.set(len(self._groups))
        self._tell(changed)
        return changed

    async def _refresh_groups(self, groups: set[str], *, only_unknown: bool = False, tell: bool = True) -> set[str]:
        """Ask dist-git for these groups' packages; reindex the members of those that changed."""
        if self.distgit is None:
            return set()
        if only_unknown:
            groups = {g for g in groups if g not in self._group_packages}
        changed_groups = set()

        async def one(group: str) -> None:
            answer = await self._ask("distgit", self.distgit.packages_of_group, group)
            if answer is not None and self._group_packages.get(group) != frozenset(answer):
                self._group_packages[group] = frozenset(answer)
                changed_groups.add(group)

        await self._all(one, sorted(groups))
        people = {p for g in changed_groups for p in self._members.get(g, ())}
        changed = {p for p in people if self._reindex(p)}
        if tell:
            self._tell(changed)
        return changed

    async def _all(self, work, items: Iterable[str]) -> None:
        """``work(item)`` for every item, at most ``concurrency`` at once across every refresh.

        ``concurrency`` workers take the items in turn (never a Deferred per item waiting on the semaphore:
        thousands of people would make ``stop``'s cancelling quadratic, seconds of a stalled reactor)."""
        queue = iter(items)

        async def worker() -> None:
            for item in queue:
                try:
                    await self._limit.run(lambda i=item: defer.ensureDeferred(work(i)))
                except defer.CancelledError:
                    raise
                except Exception:
                    log.exception("memberships: working on %s failed", quote(item, 64))

        await defer.DeferredList([defer.ensureDeferred(worker()) for _ in range(max(1, self.concurrency))],
                                 consumeErrors=True)

    async def _ask(self, service: str, call, name: str):
        """One question to a service; None when it failed (the last known answer stays)."""
        try:
            answer = await call(name)
        except ServiceError as e:
            self._count(service, "failed")
            if service not in self._down:
                self._down[service] = str(e)
                log.warning("%s is unreachable (%s); streams keep the last known groups and packages", service, e)
            return None
        except defer.CancelledError:
            raise  # stopping: not a failure, and nobody else is asked
        except Exception:
            self._count(service, "failed")
            log.exception("%s: asking about %s failed", service, quote(name, 64))
            return None
        self._count(service, "ok")
        if self._down.pop(service, None) is not None:
            log.info("%s answers again", service)
        return answer

    def _count(self, service: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.membership_fetches.labels(service, outcome).inc()

    # ------------------------------------------------------------ the indexes

    def _reindex(self, person: str) -> bool:
        """Recompute one person's packages and their place in the indexes; True if anything changed."""
        groups = self._groups.get(person, EMPTY)
        listed, listed_groups = self._listed.get(person, (EMPTY, EMPTY))
        how = packages_by_how(listed, groups, self._group_packages, listed_groups)
        old_how = self._packages.get(person, {})
        changed = how != old_how
        for package in old_how.keys() - how.keys():
            self._maintainers[package] = self._maintainers.get(package, EMPTY) - {person}
            if not self._maintainers[package]:
                del self._maintainers[package]
        for package in how.keys() - old_how.keys():
            self._maintainers[package] = self._maintainers.get(package, EMPTY) | {person}
        if how:
            self._packages[person] = how
        else:
            self._packages.pop(person, None)
        member_changed = self._place_in_groups(person, groups)
        return changed or member_changed

    def _place_in_groups(self, person: str, groups: frozenset[str]) -> bool:
        held = self._in_groups.get(person, EMPTY)
        if held == groups:
            return False
        for group in held - groups:
            self._members[group] = self._members.get(group, EMPTY) - {person}
            if not self._members[group]:
                del self._members[group]
        for group in groups - held:
            self._members[group] = self._members.get(group, EMPTY) | {person}
        self._in_groups[person] = groups
        return True

    def _tell(self, people: set[str]) -> None:
        if not people:
            return
        for listener in list(self._listeners):
            try:
                listener(set(people))
            except Exception:
                log.exception("a memberships listener failed")

    def _now(self) -> float:
        return self.clock.seconds() if self.clock is not None else 0.0


class StaticMemberships(Memberships):
    """Memberships given as tables, for unit tests and benchmarks: nothing is fetched; bus messages apply.

    ``groups``: person → groups; ``direct``: person → packages they maintain directly;
    ``group_packages``: group → packages. Built in one pass (50,000 people take about a second).
    """

    def __init__(self, groups: Mapping[str, Iterable[str]] | None = None,
                 direct: Mapping[str, Iterable[str]] | None = None,
                 group_packages: Mapping[str, Iterable[str]] | None = None, clock: Any = None):
        super().__init__(clock=clock)
        groups, direct = groups or {}, direct or {}
        self._group_packages = {g: frozenset(p) for g, p in (group_packages or {}).items()}
        people = set(groups) | set(direct)
        self.tracked = set(people)
        members: dict[str, set[str]] = {}
        maintainers: dict[str, set[str]] = {}
        for person in people:
            mine = self._groups[person] = frozenset(groups.get(person, ()))
            self._in_groups[person] = mine
            self._listed[person] = (frozenset(direct.get(person, ())), EMPTY)
            for group in mine:
                members.setdefault(group, set()).add(person)
            how = packages_by_how(self._listed[person][0], mine, self._group_packages)
            if how:
                self._packages[person] = how
            for package in how:
                maintainers.setdefault(package, set()).add(person)
        self._members = {g: frozenset(m) for g, m in members.items()}
        self._maintainers = {p: frozenset(m) for p, m in maintainers.items()}


def memberships_for(config: Any, http: Any, clock: Any, metrics: Any = None) -> Memberships:
    """The memberships a Hubs with this config fetches over ``http`` (None: fetches nothing, e.g. unit tests)."""
    if http is None:
        return Memberships(clock=clock, metrics=metrics)
    fasjson = FasJsonClient(http, config.fasjson_url, auth=gssapi_auth() if config.fasjson_gssapi else None)
    distgit = DistGitClient(http, config.distgit_url, max_pages=config.distgit_max_pages)
    return Memberships(fasjson, distgit, clock, refresh=config.fasjson_refresh, concurrency=config.fasjson_concurrency,
                       metrics=metrics)
