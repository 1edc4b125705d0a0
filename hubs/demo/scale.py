"""A data set at Fedora's size, for development and benchmarks (``hubs-populate --scale N``).

``scale_plan`` is pure: given the number of team hubs, people and a seed, it returns the
people, hubs (with their default widgets) and roles, always the same for the same
arguments. A few "hot" people (``HOT_PEOPLE``, who exist in the demo too) are members of
a share of all teams, as the busiest Fedora contributors are: one message about one of them
touches thousands of widgets — the storm ``bench/storm.py`` measures. ``load_scale`` writes
the plan with bulk inserts (tens of thousands of widgets in seconds) and is idempotent:
hubs that exist are left alone.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hubs.directory.defaults import person_widgets, team_widgets

# Syllables for plausible, valid (``^[a-z0-9][a-z0-9_.-]{0,63}$``) usernames and team names.
_ONSETS = ["b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "ch",
           "kr", "st", "th", "tr"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ei", "ou"]
_TEAM_WORDS = ["python", "kde", "gnome", "rust", "golang", "java", "haskell", "perl", "ruby", "node", "cloud",
               "iot", "coreos", "silverblue", "kinoite", "server", "workstation", "docs", "i18n", "l10n", "qa",
               "security", "packaging", "design", "marketing", "ambassadors", "websites", "infra", "releng",
               "modularity", "containers", "ml", "science", "games", "astronomy", "robotics", "neuro", "sig",
               "mentors", "podcast", "magazine", "badges", "join", "council", "fesco", "mindshare", "epel",
               "minimization", "asahi", "riscv", "arm", "s390x", "ppc64le", "kernel", "systemd", "firefox"]
_KINDS = ["sig", "team", "wg", "group", "squad", "maint"]

# The busiest contributors: each is a member of ``hot_share`` of all team hubs.
HOT_PEOPLE = ("ralph", "mizmo", "nirik")


@dataclass
class ScalePlan:
    """People, hubs and roles of a scale data set (plain values)."""

    people: dict[str, str] = field(default_factory=dict)  # username -> full name
    hubs: list[dict] = field(default_factory=list)  # name, summary, user_hub, widgets (layout)
    roles: list[tuple[str, str, str]] = field(default_factory=list)  # (hub, username, role)

    @property
    def widget_count(self) -> int:
        return sum(len(h["widgets"]) for h in self.hubs)


def _username(rng: random.Random, taken: set[str]) -> str:
    while True:
        name = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.randint(2, 3)))
        if rng.random() < 0.3:
            name += str(rng.randint(1, 99))
        if name not in taken:
            taken.add(name)
            return name


def _team_name(rng: random.Random, n: int, taken: set[str]) -> str:
    while True:
        name = f"{rng.choice(_TEAM_WORDS)}-{rng.choice(_KINDS)}"
        if name in taken:
            name = f"{name}-{n}"
        if name not in taken:
            taken.add(name)
            return name


def scale_plan(teams: int, people: int | None = None, seed: int = 42, hot_share: float = 0.5,
               fedocal_url: str = "https://calendar.fedoraproject.org") -> ScalePlan:
    """``teams`` team hubs and ``people`` personal hubs (default 2.5 × teams) with roles (pure)."""
    people = int(teams * 2.5) if people is None else people
    rng = random.Random(seed)
    plan = ScalePlan()
    taken: set[str] = set(HOT_PEOPLE)
    usernames = list(HOT_PEOPLE) + [_username(rng, taken) for _ in range(max(0, people - len(HOT_PEOPLE)))]
    for username in usernames:
        plan.people[username] = username.capitalize()
        plan.hubs.append({"name": username, "summary": f"{username.capitalize()}'s Fedora hub", "user_hub": True,
                          "widgets": person_widgets(username)})
        plan.roles.append((username, username, "owner"))
    team_names: set[str] = set(usernames)
    ordinary = usernames[len(HOT_PEOPLE):] or list(HOT_PEOPLE)
    for n in range(teams):
        name = _team_name(rng, n, team_names)
        summary = f"The {name.replace('-', ' ')} of the Fedora Project"
        plan.hubs.append({"name": name, "summary": summary, "user_hub": False,
                          "widgets": team_widgets(name, fedocal_url, summary)})
        crew = rng.sample(ordinary, min(len(ordinary), rng.randint(5, 18)))
        owners, members = crew[:2], crew[2:]
        members += [p for p in HOT_PEOPLE if rng.random() < hot_share and p not in crew]
        followers = rng.sample(ordinary, min(len(ordinary), rng.randint(0, 12)))
        for role, group in (("owner", owners), ("member", members), ("subscriber", followers)):
            plan.roles.extend((name, username, role) for username in group)
    return plan


def load_scale(dsn: str, plan: ScalePlan) -> int:
    """Write ``plan`` in bulk (one transaction); return the hubs created (existing ones are left alone)."""
    import psycopg2
    from psycopg2.extras import Json, execute_values

    from hubs.widgets import load_registry

    registry = load_registry()
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            execute_values(cur, "INSERT INTO users (username, fullname) VALUES %s ON CONFLICT DO NOTHING",
                           list(plan.people.items()), page_size=1000)
            created = execute_values(
                cur, "INSERT INTO hubs (name, summary, user_hub) VALUES %s ON CONFLICT (name) DO NOTHING"
                     " RETURNING name", [(h["name"], h["summary"], h["user_hub"]) for h in plan.hubs],
                page_size=1000, fetch=True)
            new = {row[0] for row in created}
            rows = []
            for hub in plan.hubs:
                if hub["name"] not in new:
                    continue
                positions = {"left": 0, "right": 0}
                for column, plugin, config in hub["widgets"]:
                    rows.append((hub["name"], plugin, column, positions[column],
                                 Json(registry[plugin].validate(config))))
                    positions[column] += 1
            execute_values(cur, "INSERT INTO widgets (hub, plugin, col, position, config) VALUES %s", rows,
                           page_size=1000)
            execute_values(cur, "INSERT INTO roles (hub, username, role) VALUES %s ON CONFLICT DO NOTHING",
                           [r for r in plan.roles if r[0] in new], page_size=1000)
    finally:
        conn.close()
    return len(new)
