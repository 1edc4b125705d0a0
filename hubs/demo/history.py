"""The demo's bus history: months of realistic messages about the demo people, for the canned datagrepper.

Deterministic: each UTC day's messages come from a generator seeded with that day, so every request —
whenever it is made, whatever window it asks — sees the same messages with the same ids (a backfill that
resumes, or runs twice, finds what it stored). Half of them have the fedmsg era's shape (no schema header:
the body is the fedmsg ``msg``), half are Fedora Messaging messages of the services' own schema classes
(``fedora_messaging_schema`` and ``sent-at`` headers), as datagrepper's ``/v2/search`` serves both.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import random
from collections.abc import Sequence
from typing import Any

from hubs.demo import messages as fedmsg_era
from hubs.demo import schema_messages as schema_era
from hubs.services.datagrepper import HistoryRecord

DAY = 86400
PER_DAY = 24  # messages a day around the demo's people (about 2,200 over three months)
DESIGN = ["mizmo", "duffy", "ryanlerch", "decause", "jflory7"]
INFRA = ["nirik", "ralph", "puiterwijk", "abompard", "threebean", "sayanchowdhury"]
EVERYONE = DESIGN + INFRA + ["lmacken"]
PACKAGES = ["python-twisted", "fedmsg", "python-klein", "txpostgres", "inkscape", "gimp", "ansible", "datanommer",
            "python-fedora-messaging", "bodhi"]
TITLES = ["New wallpaper concepts", "Badge artwork for Flock", "Logo request for a SIG", "Website mockups",
          "Banner for the release announcement", "Icon set refresh", "Sticker design for events",
          "Mirror list times out", "Rotate the bus certificates", "Koji builders need more disk"]
BADGES = ["Speak Up!", "Bodhi Crazy Tester I", "Origin", "Curious Penguin", "Involvement", "Like a Rock",
          "Junior Packager Tester I", "Mugshot"]
COMMITS = ["Update to latest upstream", "Fix the build on rawhide", "Add a patch for CVE-2026-1234",
           "Rebuild for Python 3.14", "Drop an obsolete patch"]


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat()


def _id(day: int, n: int) -> str:
    digest = hashlib.sha1(f"hubs-demo-history/{day}/{n}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _fedmsg_record(envelope: dict[str, Any], message_id: str, people: set[str], packages: set[str],
                   agent: str) -> HistoryRecord:
    ts = envelope["timestamp"]
    item = {"body": envelope["msg"], "headers": {"sent-at": _iso(ts)}, "id": message_id, "priority": 0,
            "queue": None, "topic": envelope["topic"]}
    return HistoryRecord(ts, item, frozenset(people), frozenset(packages), agent)


def _schema_record(message: Any, ts: float, message_id: str) -> HistoryRecord:
    headers = {k: v for k, v in message._properties.headers.items() if v is not None}
    headers["sent-at"] = _iso(ts)
    item = {"body": message.body, "headers": headers, "id": message_id, "priority": 0, "queue": None,
            "topic": message.topic}
    return HistoryRecord(ts, item, frozenset(message.usernames), frozenset(message.packages),
                         message.agent_name or "")


def _event(rng: random.Random, ts: float, message_id: str, schema: bool) -> HistoryRecord:
    kind = rng.random()
    if kind < 0.22:
        user, number, title = rng.choice(DESIGN + INFRA[:2]), rng.randint(500, 900), rng.choice(TITLES)
        project = "design" if user in DESIGN else "fedora-infrastructure"
        if schema:
            return _schema_record(schema_era.pagure_issue(user, project, number, title), ts, message_id)
        return _fedmsg_record(fedmsg_era.pagure_issue_new(user, project, number, title, ts), message_id, {user},
                              set(), user)
    if kind < 0.42:
        user, pkg = rng.choice(EVERYONE), rng.choice(PACKAGES)
        return _fedmsg_record(fedmsg_era.git_receive(user, pkg, rng.choice(COMMITS), ts), message_id, {user}, {pkg},
                              user)
    if kind < 0.6:
        owner, pkg = rng.choice(EVERYONE), rng.choice(PACKAGES)
        version = f"{rng.randint(1, 9)}.{rng.randint(0, 20)}"
        if schema:
            return _schema_record(schema_era.koji_build(owner, pkg, version), ts, message_id)
        return _fedmsg_record(fedmsg_era.build_state_change(owner, pkg, version, 1, ts), message_id, {owner}, {pkg},
                              owner)
    if kind < 0.78:
        author, submitter, pkg = rng.choice(EVERYONE), rng.choice(EVERYONE), rng.choice(PACKAGES)
        alias = "FEDORA-2026-" + hashlib.sha1(f"{pkg}{submitter}".encode()).hexdigest()[:10]
        nvr, text, karma = f"{pkg}-1.{rng.randint(0, 9)}-1.fc43", rng.choice(["Works for me", "LGTM"]), 1
        if schema:
            return _schema_record(schema_era.bodhi_comment(author, submitter, nvr, alias, text, karma), ts,
                                  message_id)
        return _fedmsg_record(fedmsg_era.bodhi_comment(author, submitter, nvr, alias, text, karma, ts), message_id,
                              {author, submitter}, {pkg}, author)
    if kind < 0.9:
        user, badge = rng.choice(EVERYONE), rng.choice(BADGES)
        if schema:
            return _schema_record(schema_era.badge_award(user, badge), ts, message_id)
        return _fedmsg_record(fedmsg_era.badge_award(user, badge, ts=ts), message_id, {user}, set(), user)
    team = rng.choice([DESIGN, INFRA])
    chair, attendees = team[0], rng.sample(team, 3)
    channel, title = ("#fedora-design", "Design team meeting") if team is DESIGN else \
        ("#fedora-admin", "Infrastructure meeting")
    if schema:
        return _schema_record(schema_era.meetbot_complete(chair, attendees, channel, title), ts, message_id)
    return _fedmsg_record(fedmsg_era.meeting_complete(chair, attendees, channel, title, ts), message_id,
                          set(attendees), set(), chair)  # fedmsg.meta names the attendees


@functools.lru_cache(maxsize=400)
def day_records(day: int) -> tuple[HistoryRecord, ...]:
    """The messages of UTC day number ``day`` (days since the epoch), in time order."""
    from hubs.bus.shims import install_checked_schema_validation

    install_checked_schema_validation()  # the library would check each class's schema at every message
    rng = random.Random(f"hubs-demo-history/{day}")
    times = sorted(day * DAY + rng.uniform(0, DAY) for _ in range(rng.randint(PER_DAY - 6, PER_DAY + 6)))
    return tuple(_event(rng, ts, _id(day, n), schema=rng.random() < 0.5) for n, ts in enumerate(times))


def records_between(start: float, end: float, now: float, days: int = 100) -> list[HistoryRecord]:
    """Every message in ``[start, end)`` no later than ``now`` and within the last ``days`` days, in time order."""
    start, end = max(start, now - days * DAY), min(end, now)
    if end <= start:
        return []
    found: list[HistoryRecord] = []
    for day in range(int(start // DAY), int(end // DAY) + 1):
        found += [r for r in day_records(day) if start <= r.ts < end]
    return found


def history_answer(args: dict[str, Sequence[str]], now: float) -> dict[str, Any]:
    """The canned ``/v2/search`` answer over the demo history (``BadSearch`` for what datagrepper refuses)."""
    from hubs.services.datagrepper import _float, search_records

    start, end = _float(args, "start"), _float(args, "end")
    end = now if end is None else end
    start = end - 600 if start is None else start
    return search_records(records_between(start, end, now), {**args, "start": [repr(start)], "end": [repr(end)]},
                          now)
