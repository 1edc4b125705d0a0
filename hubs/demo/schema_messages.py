"""Fedora Messaging messages as today's Fedora services send them, built with their real schema classes.

Each builder returns a ``fedora_messaging.message.Message`` of the service's own
class (valid against its schema; ``validate()`` is called), with the topic
Fedora's broker uses: ``org.fedoraproject.prod.<class topic>`` (pagure.io:
``io.pagure.prod``). Used by the tests, the benchmarks and the demo feed.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Any

from fedora_messaging.message import Message, get_class

PREFIX = "org.fedoraproject.prod"


def _iso(ts: float | None = None) -> str:
    when = datetime.datetime.now(datetime.UTC) if ts is None else datetime.datetime.fromtimestamp(ts, datetime.UTC)
    return when.replace(microsecond=0).isoformat()


def build(schema: str, body: dict[str, Any], prefix: str = PREFIX, message_id: str | None = None,
          topic: str | None = None) -> Message:
    """A validated message of the class registered as ``schema``, on ``<prefix>.<class topic>``."""
    cls = get_class(schema)
    message = cls(body=body, topic=f"{prefix}.{topic or cls.topic}")
    message.validate()
    if message_id is not None:
        message.id = message_id
    return message


def badge_award(user: str, name: str, description: str = "") -> Message:
    slug = name.lower().replace(" ", "-")
    return build("badges.badge.award.v1", {
        "user": {"username": user, "badges_user_id": 1},
        "badge": {"badge_id": slug, "name": name, "description": description or f"You earned {name}.",
                  "image_url": f"https://badges.fedoraproject.org/pngs/{slug}.png"}})


def bodhi_comment(author: str, submitter: str, nvr: str, alias: str, text: str, karma: int = 1) -> Message:
    update = {"alias": alias, "builds": [{"nvr": nvr}], "release": {"name": "F43"}, "request": None,
              "status": "testing", "user": {"name": submitter}, "title": nvr}
    return build("bodhi.update.comment.v1", {"comment": {
        "karma": karma, "text": text, "timestamp": "2026-11-20 10:00:00", "update": update,
        "user": {"name": author}}})


def bodhi_update_complete(submitter: str, nvr: str, alias: str, status: str = "stable",
                          agent: str = "bodhi") -> Message:
    """``bodhi.update.complete.<status>``: one per update when a push ends."""
    update = {"alias": alias, "builds": [{"nvr": nvr}], "release": {"name": "F43"}, "request": None,
              "status": status, "user": {"name": submitter}, "title": nvr}
    return build(f"bodhi.update.complete.{status}.v1", {"update": update, "agent": agent})


def _pagure_person(user: str) -> dict[str, str]:
    return {"name": user, "fullname": user.title(), "url_path": f"user/{user}"}


def pagure_issue(user: str, project: str, number: int, title: str, action: str = "new") -> Message:
    """``pagure.issue.new`` (or ``.edit``/``.comment.added``...: same project and issue)."""
    now = str(int(datetime.datetime.now(datetime.UTC).timestamp()))
    proj = {"id": 1, "name": project, "fullname": project, "url_path": project,
            "full_url": f"https://pagure.io/{project}", "description": "", "namespace": None,
            "date_created": now, "date_modified": now, "user": _pagure_person(user), "tags": [],
            "close_status": [], "milestones": {}}
    issue = {"id": number, "full_url": f"https://pagure.io/{project}/issue/{number}", "title": title,
             "content": title, "status": "Open", "close_status": None, "date_created": now, "last_updated": now,
             "closed_at": None, "user": _pagure_person(user), "private": False, "tags": [], "depends": [],
             "blocks": [], "assignee": None, "milestone": None, "closed_by": None, "related_prs": [],
             "comments": []}
    body: dict[str, Any] = {"agent": user, "project": proj, "issue": issue}
    if action == "edit":
        body["fields"] = ["title"]
    return build(f"pagure.issue.{action}", body, prefix="io.pagure.prod")


def koji_build(owner: str, name: str, version: str, new: int = 1) -> Message:
    build_id = int(hashlib.sha1(f"{name}{version}".encode()).hexdigest()[:6], 16)
    return build("koji_fedoramessaging.build.BuildStateChangeV1", {
        "name": name, "version": version, "release": "1.fc43", "epoch": None, "attribute": "state", "old": 0,
        "new": new, "build_id": build_id, "task_id": None, "task": None, "request": None, "owner": owner,
        "instance": "primary", "creation_time": _iso(), "completion_time": _iso(),
        "url": f"https://koji.fedoraproject.org/koji/buildinfo?buildID={build_id}"})


def meetbot_complete(chair: str, attendees: list[str], channel: str, title: str) -> Message:
    room = channel.strip("#")
    return build("meetbot.meeting.complete", {
        "start_time": _iso(), "start_user": chair, "end_time": _iso(), "end_user": chair, "location": channel,
        "meeting_name": title, "attendees": [{"name": a, "lines_said": 10} for a in attendees], "chairs": [chair],
        "url": f"https://meetbot.fedoraproject.org/{room}/2026", "logs": [
            {"log_type": "summary", "log_url": f"https://meetbot-raw.fedoraproject.org/{room}/2026.html"}]})


def fedocal_meeting_new(agent: str, calendar: str, title: str) -> Message:
    return build("fedocal.meeting.new", {
        "agent": agent,
        "calendar": {"calendar_name": calendar, "calendar_contact": f"{calendar}@lists.fedoraproject.org",
                     "calendar_description": f"The {calendar} calendar", "calendar_editor_group": None,
                     "calendar_admin_group": None, "calendar_status": "Enabled"},
        "meeting": {"meeting_id": 1, "meeting_name": title, "meeting_manager": [agent],
                    "meeting_date": "2026-12-01", "meeting_date_end": "2026-12-01", "meeting_time_start": "15:00:00",
                    "meeting_time_stop": "16:00:00", "meeting_timezone": "UTC", "meeting_information": "",
                    "meeting_location": "#fedora-meeting", "calendar_name": calendar}})


def fas_group_sponsor(agent: str, user: str, group: str) -> Message:
    return build("noggin.group.member.sponsor.v1", {"msg": {"agent": agent, "user": user, "group": group}})


def fas_user_update(user: str, fields: list[str]) -> Message:
    return build("noggin.user.update.v1", {"msg": {"agent": user, "user": user, "fields": fields}})


def discourse_post(user: str, title: str, instance: str = "https://discussion.fedoraproject.org") -> Message:
    return build("discourse.event.v1", {
        "webhook_body": {"post": {"id": 1, "username": user, "topic_title": title, "topic_slug": "a-topic",
                                  "topic_id": 7, "post_number": 1, "cooked": f"<p>{title}</p>"}},
        "webhook_headers": {"X-Discourse-Instance": instance, "X-Discourse-Event-Id": "1",
                            "X-Discourse-Event": "post_created", "X-Discourse-Event-Type": "post",
                            "X-Discourse-Event-Signature": "sha256=0"}},
        topic="discourse.post.post_created")  # discourse2fedmsg: discourse.<event type>.<event>


def hubs_change(short_topic: str, body: dict[str, Any], prefix: str = "org.fedoraproject.dev") -> Message:
    """One of Hubs' own change messages (``hubs.widget.update``...), with Hubs' schema class."""
    from hubs.bus.schemas import schema_class

    message = schema_class(short_topic)(body=body, topic=f"{prefix}.{short_topic}")
    message.validate()
    return message
