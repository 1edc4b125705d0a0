"""The widgets a new hub starts with (used by populate.py and by hub creation)."""

from __future__ import annotations

from typing import Any

Layout = list[tuple[str, str, dict[str, Any]]]  # (column, plugin, config)


def person_widgets(username: str) -> Layout:
    """A personal hub: who they are, what they did, their badges, their hubs, their updates."""
    return [
        ("left", "about", {"text": f"Hi, I'm **{username}**. This is my Fedora hub."}),
        ("left", "feed", {}),
        ("left", "fedmsgs", {}),
        ("left", "badges", {}),
        ("right", "avatar", {}),
        ("right", "fedmsgstats", {}),
        ("right", "subscriptions", {}),
        ("right", "updates2stable", {}),
        ("right", "sticky", {"text": "Things I'm working on this week."}),
    ]


def team_widgets(name: str, fedocal_url: str, summary: str = "") -> Layout:
    """A team hub: what it is, what its people do, its tickets, its rules and meetings, its pulse."""
    return [
        ("left", "about", {"text": summary or f"The **{name}** team hub."}),
        ("left", "feed", {}),
        ("left", "pagure", {"project": name}),
        ("right", "stats", {}),
        ("right", "rules", {}),
        ("right", "meetings", {"calendar": f"{fedocal_url.rstrip('/')}/ical/{name}/"}),
        ("right", "cobwebs", {}),
    ]
