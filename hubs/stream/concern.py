"""Who a bus message concerns, and why: the ConcernIndex (pure; index lookups only, never a loop over people).

The rules, on for everyone: my actions (agent), about me (usernames, someone else acted), my packages
(directly or through a group, from ``Memberships``), my groups (the groups a message is about), what I
follow (people, packages, hubs) and what the hubs I own, belong to or subscribe to show in their feeds
(their people's messages). A person's mutes then hide what they asked not to see. Follows, mutes and
hubs are updated per person or per hub as they change; memberships are asked at decision time (the
``Memberships`` object answers from memory).

Neither a hub's rule nor a follow is expanded into people per message: ``concerns`` gives the personal
reasons (actor, mentioned, package, group), ``feed_hubs`` the things whose rows show the message — the
hubs whose feeds show it, and the followed people and packages it is about (``thing_key``: "person:P",
"package:K"; only those someone follows) — written once per thing, and a person's stream is read as their
own entries and their things' (``hubs_of``: person → thing → reasons). The index also keeps who of a
thing's audience and followers has a stream open in this process (``listen``), so pushing a thing's new
item costs a lookup per thing, never a walk over an audience.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from hubs.bus.message import BusMessage
from hubs.dispatch.hints import split_topic
from hubs.stream.model import Reason, mutes_message, thing_key

# Hubs' own stream messages concern nobody (a triage would otherwise be an item of its own).
SILENT_PREFIXES = ("hubs.stream.",)
AUDIENCE_ROLES = ("owner", "member", "subscriber")
EMPTY: frozenset[str] = frozenset()


class Memberships(Protocol):
    """What the index asks of who-is-in-what (``hubs.stream.memberships.Memberships``; answers from memory)."""

    def members_of(self, group: str) -> frozenset[str]: ...

    def maintainers_of(self, package: str) -> frozenset[str]: ...


def message_groups(message: BusMessage) -> tuple[str, ...]:
    """The groups a message is about (pure): a ``group`` or ``groups`` field of its body (or of its ``msg``)."""
    found: list[str] = []
    for part in (message.body, message.body.get("msg") if isinstance(message.body, Mapping) else None):
        if not isinstance(part, Mapping):
            continue
        group = part.get("group")
        if isinstance(group, str) and group:
            found.append(group)
        elif isinstance(group, Mapping) and isinstance(group.get("name"), str):
            found.append(group["name"])
        groups = part.get("groups")
        if isinstance(groups, list):
            found += [g for g in groups[:20] if isinstance(g, str) and g]
    return tuple(dict.fromkeys(found))


class ConcernIndex:
    """People by the things that bring a message to them (see the module's docstring)."""

    def __init__(self, memberships: Memberships):
        self.memberships = memberships
        self._followers: dict[str, dict[str, set[str]]] = {"person": {}, "package": {}, "hub": {}}
        self._follows: dict[str, frozenset[tuple[str, str]]] = {}
        self._mutes: dict[str, frozenset[tuple[str, str]]] = {}
        self._hub_shows: dict[str, frozenset[str]] = {}  # hub → usernames its feed shows
        self._feed_hubs: dict[str, set[str]] = {}  # username → hubs whose feed shows them
        self._audience: dict[str, frozenset[str]] = {}  # hub → people who own, belong to or subscribe to it
        self._member_hubs: dict[str, set[str]] = {}  # person → hubs they own, belong to or subscribe to
        self._listening: set[str] = set()  # people with a stream open in this process
        self._hub_listeners: dict[str, set[str]] = {}  # hub → listening people of its audience or followers

    # ------------------------------------------------------------------ updates (incremental)

    def set_follows(self, person: str, follows: Iterable[tuple[str, str]]) -> None:
        """Replace what ``person`` follows: (kind, name) pairs, kind person|package|hub."""
        new = frozenset((k, n) for k, n in follows if k in self._followers)
        old = self._follows.get(person, frozenset())
        for kind, name in old - new:
            people = self._followers[kind].get(name)
            if people is not None:
                people.discard(person)
                if not people:
                    del self._followers[kind][name]
        for kind, name in new - old:
            self._followers[kind].setdefault(name, set()).add(person)
        if new:
            self._follows[person] = new
        else:
            self._follows.pop(person, None)
        if person in self._listening:
            self._unhear(person)
            self._hear(person)

    def follows_of(self, person: str) -> frozenset[tuple[str, str]]:
        return self._follows.get(person, frozenset())

    def set_mutes(self, person: str, mutes: Iterable[tuple[str, str]]) -> None:
        """Replace ``person``'s mutes: (kind, value) pairs, kind package|service|person|topic."""
        new = frozenset(mutes)
        if new:
            self._mutes[person] = new
        else:
            self._mutes.pop(person, None)

    def mutes_of(self, person: str) -> frozenset[tuple[str, str]]:
        return self._mutes.get(person, frozenset())

    def set_hub(self, hub: str, shows: Iterable[str], audience: Iterable[str]) -> None:
        """A hub's feed shows ``shows`` (its people); ``audience`` own, belong to or subscribe to it."""
        self.drop_hub(hub)
        shows = frozenset(shows)
        self._hub_shows[hub] = shows
        for name in shows:
            self._feed_hubs.setdefault(name, set()).add(hub)
        audience = self._audience[hub] = frozenset(audience)
        for person in audience:
            self._member_hubs.setdefault(person, set()).add(hub)
        listening = (audience | self._followers["hub"].get(hub, EMPTY)) & self._listening
        if listening:
            self._hub_listeners[hub] = set(listening)

    def drop_hub(self, hub: str) -> None:
        for name in self._hub_shows.pop(hub, ()):
            hubs = self._feed_hubs.get(name)
            if hubs is not None:
                hubs.discard(hub)
                if not hubs:
                    del self._feed_hubs[name]
        for person in self._audience.pop(hub, ()):
            hubs = self._member_hubs.get(person)
            if hubs is not None:
                hubs.discard(hub)
                if not hubs:
                    del self._member_hubs[person]
        self._hub_listeners.pop(hub, None)

    def load_hubs(self, directory: Any) -> None:
        """Every hub of a ``Directory`` (at start)."""
        for hub in directory.all_hubs():
            self.hub_from_directory(directory, hub.name)

    def hub_from_directory(self, directory: Any, name: str) -> None:
        """Re-read one hub from a ``Directory`` (after it changed); a hub gone is dropped."""
        hub = directory.find_hub(name)
        if hub is None or hub.archived:
            self.drop_hub(name)
            return
        shows = [hub.name] if hub.user_hub else directory.people(hub.name)
        audience = directory.people(hub.name, AUDIENCE_ROLES)
        if hub.user_hub:
            audience = sorted({*audience, hub.name})
        self.set_hub(hub.name, shows, audience)

    # ------------------------------------------------------------------ a person's hubs, listeners

    def hubs_of(self, person: str) -> dict[str, tuple[Reason, ...]]:
        """The things (``thing_key``) whose items are in ``person``'s stream, with why: "hub" (owner, member,
        subscriber), "follow-hub" (followed; a followed hub that is gone shows nothing new, and nothing old:
        its items were never the person's), "follow-person" and "follow-package" (followed)."""
        found = {hub: (Reason("hub", hub),) for hub in self._member_hubs.get(person, ())}
        for kind, name in self._follows.get(person, ()):
            if kind == "hub":
                if name in self._hub_shows:
                    found[name] = found.get(name, ()) + (Reason("follow-hub", name),)
            else:
                found[thing_key(kind, name)] = (Reason(f"follow-{kind}", name),)
        return found

    def listen(self, person: str) -> None:
        """``person`` has a stream open in this process (their first page)."""
        if person not in self._listening:
            self._listening.add(person)
            self._hear(person)

    def unlisten(self, person: str) -> None:
        """``person``'s last open page here closed."""
        if person in self._listening:
            self._listening.discard(person)
            self._unhear(person)

    def _hear(self, person: str) -> None:
        for hub in self.hubs_of(person):
            self._hub_listeners.setdefault(hub, set()).add(person)

    def _unhear(self, person: str) -> None:
        for hub, people in list(self._hub_listeners.items()):
            if person in people:
                people.discard(person)
                if not people:
                    del self._hub_listeners[hub]

    def listening_to(self, hubs: Iterable[str]) -> dict[str, tuple[Reason, ...]]:
        """Listening person → their reasons for an item that ``hubs`` show (lookups per hub; mutes applied by
        the caller, who has the message)."""
        found: dict[str, tuple[Reason, ...]] = {}
        for hub in hubs:
            for person in self._hub_listeners.get(hub, ()):
                found[person] = found.get(person, ()) + self.hubs_of_one(person, hub)
        return found

    def listeners_of(self, hub: str) -> frozenset[str]:
        """The people with a stream open here whose stream shows ``hub``'s items."""
        return frozenset(self._hub_listeners.get(hub, ()))

    def hubs_of_one(self, person: str, hub: str) -> tuple[Reason, ...]:
        """``person``'s reasons for one hub's or thing's items (none if it is not theirs)."""
        kind, _, name = hub.partition(":")
        if name:
            return (Reason(f"follow-{kind}", name),) if (kind, name) in self._follows.get(person, ()) else ()
        out: tuple[Reason, ...] = ()
        if person in self._audience.get(hub, EMPTY):
            out += (Reason("hub", hub),)
        if ("hub", hub) in self._follows.get(person, ()):
            out += (Reason("follow-hub", hub),)
        return out

    # ------------------------------------------------------------------ the decision

    def feed_hubs(self, message: BusMessage) -> tuple[str, ...]:
        """The things whose rows show ``message``, sorted: the hubs whose feeds show it (its people's hubs)
        and the people (agent or named) and packages it is about that someone follows (``thing_key``); none
        for Hubs' stream messages."""
        short, _ = split_topic(message.topic)
        if not short or short.startswith(SILENT_PREFIXES):
            return ()
        agent = message.agent
        names = (message.usernames | {agent}) if agent else message.usernames
        feed = self._feed_hubs
        people = self._followers["person"]
        found: set[str] = set()
        for name in names:
            hubs = feed.get(name)
            if hubs:
                found |= hubs
            if name in people:
                found.add(f"person:{name}")
        packages = self._followers["package"]
        for package in message.packages:
            if package in packages:
                found.add(f"package:{package}")
        return tuple(sorted(found))

    def concerns(self, message: BusMessage) -> dict[str, tuple[Reason, ...]]:
        """Person → the personal reasons ``message`` is in their stream (none for junk or Hubs' stream
        messages); its hubs' and followed things' entries are ``feed_hubs``.

        Each rule gives a set of people; most people come from one rule, so a rule's newcomers are added
        all at once (set and dict operations, in C) sharing one reasons tuple, and only people already
        found (few) are walked in Python to add a second reason.
        """
        short, _ = split_topic(message.topic)
        if not short or short.startswith(SILENT_PREFIXES):
            return {}
        found: dict[str, tuple[Reason, ...]] = {}
        for reason, people in self._rules(message):
            if not people:
                continue
            if not found:
                found = dict.fromkeys(people, (reason,))
                continue
            keys = found.keys()
            again = keys & people if len(people) < len(found) else people & keys
            if len(again) < len(people):
                found.update(dict.fromkeys(people - again if isinstance(people, (set, frozenset))
                                           else set(people) - again, (reason,)))
            for person in again:
                reasons = found[person]
                if reason not in reasons:
                    found[person] = reasons + (reason,)
        mutes = self._mutes
        if mutes and found:
            for person in mutes.keys() & found.keys():
                if mutes_message(mutes[person], message):
                    del found[person]
        return found

    def _rules(self, message: BusMessage) -> list[tuple[Reason, Iterable[str]]]:
        """(reason, the people it brings the message to), in the order reasons are listed."""
        agent = message.agent
        names = message.usernames
        rules: list[tuple[Reason, Iterable[str]]] = []
        if agent:
            rules.append((Reason("actor"), {agent}))
        mentioned = names - {agent} if agent else names
        if mentioned:
            rules.append((Reason("mentioned"), mentioned))
        for package in message.packages:
            rules.append((Reason("package", package), self.memberships.maintainers_of(package)))
        for group in message_groups(message):
            rules.append((Reason("group", group), self.memberships.members_of(group)))
        return rules
