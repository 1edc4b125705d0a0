"""The permission table and CSRF rule (pure)."""

import pytest

from hubs.models import Hub
from hubs.people.auth import ACTIONS, ANONYMOUS, Identity, csrf_ok, permission

TEAM = Hub("designteam")
CLOSED = Hub("closed", allow_join=False)
PERSON = Hub("ralph", user_hub=True)
ARCHIVED = Hub("old", archived=True)

USER = Identity("someone", via="session", csrf="c")
ADMIN = Identity("boss", is_admin=True, via="token")

WHO = {
    "anonymous": (ANONYMOUS, set()),
    "signed-in": (USER, set()),
    "subscriber": (USER, {"subscriber"}),
    "member": (USER, {"member"}),
    "owner": (USER, {"owner"}),
    "admin": (ADMIN, set()),
}

# expected status per action for: anonymous, signed-in, subscriber, member, owner, admin (on a team hub)
MATRIX = {
    "edit_widget":   (401, 403, 403, 403, 200, 200),
    "add_widget":    (401, 403, 403, 403, 200, 200),
    "remove_widget": (401, 403, 403, 403, 200, 200),
    "move_widget":   (401, 403, 403, 403, 200, 200),
    "edit_hub":      (401, 403, 403, 403, 200, 200),
    "backfill_hub":  (401, 403, 403, 403, 200, 200),
    "create_hub":    (401, 403, 403, 403, 403, 200),
    "archive_hub":   (401, 403, 403, 403, 403, 200),
    "set_owner":     (401, 403, 403, 403, 403, 200),
    "subscribe":     (401, 200, 200, 200, 200, 200),
    "unsubscribe":   (401, 200, 200, 200, 200, 200),
    "star":          (401, 200, 200, 200, 200, 200),
    "unstar":        (401, 200, 200, 200, 200, 200),
    "join":          (401, 200, 200, 200, 200, 200),
    "leave":         (401, 409, 409, 200, 409, 409),
}


def test_matrix_covers_every_action():
    """Every action is in the table."""
    assert set(MATRIX) == ACTIONS


@pytest.mark.parametrize("action", sorted(MATRIX))
@pytest.mark.parametrize("who", list(WHO))
def test_permission_matrix(action, who):
    """Who may do what on a team hub."""
    identity, roles = WHO[who]
    decision = permission(action, identity, frozenset(roles), TEAM)
    expected = MATRIX[action][list(WHO).index(who)]
    assert decision.status == expected and decision.allowed is (expected == 200)
    if not decision.allowed:
        assert decision.reason


@pytest.mark.parametrize(("hub", "status"), [(TEAM, 200), (CLOSED, 403), (PERSON, 403), (ARCHIVED, 403)])
def test_join_only_where_the_hub_allows(hub, status):
    """People join team hubs that allow it, never personal or archived ones."""
    assert permission("join", USER, frozenset(), hub).status == status


@pytest.mark.parametrize(("who", "header", "ok"), [
    (USER, "c", True), (USER, None, False), (USER, "wrong", False), (ADMIN, None, True),
    (Identity("x", via="admin-token"), None, True),
])
def test_csrf(who, header, ok):
    """Session writes must carry the session's CSRF token; bearer tokens need none."""
    assert csrf_ok(who, header) is ok


@pytest.mark.parametrize(("value", "expected"), [
    ("/designteam", "/designteam"), ("/designteam?x=1#y", "/designteam?x=1#y"), (None, "/"), ("", "/"),
    ("https://evil.example/", "/"), ("//evil.example", "/"), ("/\\evil.example", "/"), ("/\t/evil.example", "/"),
    ("/%09/evil.example", "/%09/evil.example"), (" /x", "/"), ("javascript:alert(1)", "/"),
    ("/x\r\nSet-Cookie: a", "/"),
])
def test_login_only_returns_to_local_paths(value, expected):
    """After login people go back to a path on this site, never elsewhere."""
    from hubs.people.oidc import safe_next

    assert safe_next(value) == expected


def test_non_ascii_csrf_header_is_refused_not_a_crash():
    """A CSRF header with odd characters is simply wrong."""
    assert csrf_ok(USER, "c²") is False
