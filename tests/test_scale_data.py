"""The scale data set (``hubs-populate --scale N``): plausible, deterministic, valid, loaded in bulk."""

from __future__ import annotations

import re

import psycopg2

from hubs.demo.scale import HOT_PEOPLE, load_scale, scale_plan
from hubs.widgets import load_registry

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def test_the_same_arguments_give_the_same_plan():
    """A plan is a pure function of its arguments: benchmarks compare like with like."""
    assert scale_plan(50, seed=3) == scale_plan(50, seed=3)
    assert scale_plan(50, seed=3).hubs != scale_plan(50, seed=4).hubs


def test_a_plan_has_the_team_and_personal_hubs_asked_for_with_unique_valid_names():
    """N team hubs, 2.5 N personal hubs by default, every name unique and a valid hub name."""
    plan = scale_plan(200)
    names = [h["name"] for h in plan.hubs]
    assert len(names) == len(set(names)) == 200 + 500
    assert sum(not h["user_hub"] for h in plan.hubs) == 200
    assert all(NAME.match(n) for n in names) and all(NAME.match(u) for u in plan.people)


def test_every_widget_config_of_a_plan_is_valid():
    """Each widget's config passes its widget's validation (the loader writes validated configs)."""
    registry = load_registry()
    for hub in scale_plan(30).hubs:
        for _column, plugin, config in hub["widgets"]:
            registry[plugin].validate(config)


def test_hot_people_are_members_of_a_large_share_of_teams():
    """The busiest contributors are in many teams, so one message about them touches thousands of widgets."""
    plan = scale_plan(400, hot_share=0.5)
    for person in HOT_PEOPLE:
        teams = {hub for hub, username, role in plan.roles if username == person and role == "member"}
        assert 150 <= len(teams) <= 250


def test_every_team_has_two_owners_and_every_person_owns_their_hub():
    """Roles look like Fedora's: two owners a team, each personal hub owned by its person."""
    plan = scale_plan(40)
    owners: dict[str, set[str]] = {}
    for hub, username, role in plan.roles:
        if role == "owner":
            owners.setdefault(hub, set()).add(username)
    for hub in plan.hubs:
        if hub["user_hub"]:
            assert owners[hub["name"]] == {hub["name"]}
        else:
            assert len(owners[hub["name"]]) == 2 and hub["name"] not in owners[hub["name"]]


def test_loading_a_plan_writes_every_hub_widget_and_role_once_and_is_idempotent(empty_db):
    """Bulk load into real PostgreSQL; loading again creates nothing and changes nothing."""
    plan = scale_plan(60)
    assert load_scale(empty_db, plan) == len(plan.hubs)
    assert load_scale(empty_db, plan) == 0
    conn = psycopg2.connect(empty_db)
    with conn, conn.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM hubs), (SELECT count(*) FROM widgets), (SELECT count(*) FROM roles)")
        hubs, widgets, roles = cur.fetchone()
    conn.close()
    assert (hubs, widgets, roles) == (len(plan.hubs), plan.widget_count, len(set(plan.roles)))
