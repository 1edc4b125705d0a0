"""Bus messages in the shapes Fedora's services send (and fedmsg.meta understands).

Used by the demo data (``populate.py``) and by the tests. Each builder returns
a full envelope: topic, msg, msg_id, timestamp, i, username.
"""

from __future__ import annotations

import hashlib
import random
import time
from typing import Any

PREFIX = "org.fedoraproject.prod"


def envelope(topic: str, msg: dict[str, Any], ts: float | None = None, prefix: str = PREFIX) -> dict[str, Any]:
    ts = time.time() if ts is None else ts
    digest = hashlib.sha1(f"{topic}{ts}{sorted(msg.items())!r}".encode()).hexdigest()
    return {"topic": f"{prefix}.{topic}", "msg": msg, "msg_id": f"2026-{digest[:8]}-{digest[8:12]}-{digest[12:24]}",
            "timestamp": ts, "i": 1, "username": "apache"}


def badge_award(user: str, name: str, description: str = "", ts: float | None = None) -> dict[str, Any]:
    return envelope("fedbadges.badge.award", {
        "user": {"username": user, "badges_user_id": 1},
        "badge": {"name": name, "description": description or name, "image_url":
                  f"https://badges.fedoraproject.org/pngs/{name.split()[0].lower()}.png"}}, ts)


def bodhi_comment(author: str, submitter: str, title: str, alias: str, text: str, karma: int = 1,
                  ts: float | None = None) -> dict[str, Any]:
    update = {"title": title, "alias": alias, "user": {"name": submitter}, "stable_karma": 3,
              "url": f"https://bodhi.fedoraproject.org/updates/{alias}", "builds": [{"nvr": title}], "karma": karma}
    return envelope("bodhi.update.comment", {
        "comment": {"author": author, "text": text, "karma": karma, "timestamp": "2026-11-20 10:00:00",
                    "update": update},
        "update": update, "agent": author}, ts)


def bodhi_update_complete(submitter: str, title: str, alias: str, status: str = "stable", agent: str = "bodhi",
                          ts: float | None = None) -> dict[str, Any]:
    """``bodhi.update.complete.<status>``: the update reached the stable (or testing) repository. Bodhi sends one
    per update when a push ends: a push of a few hundred updates is as many messages within seconds."""
    update = {"title": title, "alias": alias, "user": {"name": submitter}, "status": status, "request": None,
              "release": {"name": "F43"}, "url": f"https://bodhi.fedoraproject.org/updates/{alias}",
              "builds": [{"nvr": title}], "karma": 3, "stable_karma": 3}
    return envelope(f"bodhi.update.complete.{status}", {"update": update, "agent": agent}, ts)


def pagure_issue_new(user: str, project: str, number: int, title: str, ts: float | None = None) -> dict[str, Any]:
    person = {"name": user, "fullname": user}
    return envelope("pagure.issue.new", {
        "project": {"name": project, "fullname": project, "namespace": None, "parent": None, "user": person,
                    "description": ""},
        "issue": {"id": number, "title": title, "status": "Open", "user": person, "content": title,
                  "tags": [], "comments": [], "date_created": str(int(ts or time.time()))},
        "agent": user}, ts, prefix="io.pagure.prod")


def git_receive(user: str, repo: str, summary: str, ts: float | None = None) -> dict[str, Any]:
    rev = hashlib.sha1(f"{user}{repo}{summary}{ts}".encode()).hexdigest()
    return envelope("git.receive", {"commit": {
        "username": user, "agent": user, "name": user, "email": f"{user}@fedoraproject.org", "rev": rev,
        "summary": summary, "message": summary + "\n", "repo": repo, "branch": "rawhide",
        "path": f"/srv/git/rpms/{repo}.git",
        "stats": {"files": {}, "total": {"deletions": 1, "files": 1, "additions": 3, "lines": 4}}}}, ts)


def build_state_change(owner: str, name: str, version: str, new: int = 1, ts: float | None = None) -> dict[str, Any]:
    build_id = int(hashlib.sha1(f"{name}{version}".encode()).hexdigest()[:6], 16)
    return envelope("buildsys.build.state.change", {
        "build_id": build_id, "old": 0, "new": new,
        "name": name, "version": version, "release": "1.fc43", "owner": owner, "attribute": "state",
        "instance": "primary", "task_id": 1, "url": f"https://koji.fedoraproject.org/koji/buildinfo?buildID={build_id}"},
        ts)


def meeting_complete(owner: str, attendees: list[str], channel: str, title: str,
                     ts: float | None = None) -> dict[str, Any]:
    return envelope("meetbot.meeting.complete", {
        "meeting_topic": title, "topic": "open floor", "owner": owner, "channel": channel,
        "attendees": {name: 10 for name in attendees}, "chairs": {owner: True},
        "url": f"https://meetbot.fedoraproject.org/{channel.strip('#')}/2026"}, ts)


def demo_stream(now: float, days: int = 21, seed: int = 7) -> list[dict[str, Any]]:
    """A plausible few weeks of bus traffic around the demo hubs' people."""
    rng = random.Random(seed)
    design = ["mizmo", "duffy", "ryanlerch", "decause", "jflory7"]
    infra = ["nirik", "ralph", "puiterwijk", "abompard", "threebean", "sayanchowdhury"]
    everyone = design + infra + ["lmacken"]
    packages = ["python-twisted", "fedmsg", "python-klein", "txpostgres", "inkscape", "gimp", "ansible"]
    titles = ["New wallpaper concepts", "Badge artwork for Flock", "Logo request for a SIG", "Website mockups",
              "Banner for the release announcement", "Icon set refresh", "Sticker design for events"]
    badges = ["Speak Up!", "Bodhi Crazy Tester I", "Origin", "Curious Penguin", "Involvement", "Like a Rock"]
    messages = []
    for _ in range(days * 9):
        ts = now - rng.uniform(0, days * 86400) ** 1.0
        kind = rng.random()
        if kind < 0.25:
            user = rng.choice(design)
            messages.append(pagure_issue_new(user, "design", rng.randint(500, 800), rng.choice(titles), ts))
        elif kind < 0.45:
            user, pkg = rng.choice(everyone), rng.choice(packages)
            messages.append(git_receive(user, pkg, rng.choice(["Update to latest upstream", "Fix the build on "
                                                                "rawhide", "Add a patch for CVE-2026-1234"]), ts))
        elif kind < 0.65:
            owner, pkg = rng.choice(everyone), rng.choice(packages)
            messages.append(build_state_change(owner, pkg, f"{rng.randint(1, 9)}.{rng.randint(0, 20)}", 1, ts))
        elif kind < 0.8:
            author, submitter, pkg = rng.choice(everyone), rng.choice(everyone), rng.choice(packages)
            alias = "FEDORA-2026-" + hashlib.sha1(f"{pkg}{submitter}".encode()).hexdigest()[:10]
            messages.append(bodhi_comment(author, submitter, f"{pkg}-1.0-1.fc43", alias,
                                          "Works for me", rng.choice([0, 1, 1]), ts))
        elif kind < 0.9:
            messages.append(badge_award(rng.choice(everyone), rng.choice(badges), ts=ts))
        else:
            team = rng.choice([design, infra])
            messages.append(meeting_complete(team[0], rng.sample(team, 3),
                                             "#fedora-design" if team is design else "#fedora-admin",
                                             "Design team meeting" if team is design else "Infrastructure meeting",
                                             ts))
    messages.sort(key=lambda m: m["timestamp"])
    return messages


def fedocal_meeting_new(user: str, calendar: str, meeting: str, ts: float | None = None) -> dict[str, Any]:
    return envelope("fedocal.meeting.new", {
        "calendar": {"calendar_name": calendar, "calendar_description": calendar},
        "meeting": {"meeting_name": meeting, "meeting_id": 42, "calendar_name": calendar,
                    "meeting_date": "2026-12-01", "meeting_date_end": "2026-12-01", "meeting_time_start": "14:00:00",
                    "meeting_time_stop": "15:00:00", "meeting_timezone": "UTC", "meeting_manager": f"{user},",
                    "meeting_information": "", "meeting_region": None},
        "agent": user}, ts)


def hubs_message(topic: str, ts: float | None = None, **msg: Any) -> dict[str, Any]:
    """A message Hubs itself publishes (``hubs.role.update``, ``hubs.hub.update``, ...)."""
    return envelope(topic, dict(msg), ts, prefix="org.fedoraproject.dev")
