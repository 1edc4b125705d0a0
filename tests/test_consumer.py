"""The consumer's message checks (the rest is covered end to end in test_e2e_hub.py)."""

import pytest

from hubs.consumer import check_envelope, usernames_from_meta

ENVELOPES = [
    # (envelope, problem or None)
    ({"topic": "org.fedoraproject.prod.badges.badge.award", "msg": {}}, None),
    ({"topic": "org.fedoraproject.prod.badges.badge.award", "msg": "text is fine"}, None),
    ("a string", "body is not an object"),
    (None, "body is not an object"),
    ({"msg": {}}, "no topic"),
    ({"topic": 5, "msg": {}}, "no topic"),
    ({"topic": "", "msg": {}}, "no topic"),
    ({"topic": "a.b.c", "msg": {}}, "fewer than four parts"),
    ({"topic": "org.fedoraproject.prod." + "x" * 300, "msg": {}}, "topic too long"),
    ({"topic": "org.fedoraproject.prod.badges.badge.award"}, "no msg"),
]


@pytest.mark.parametrize(("envelope", "problem"), ENVELOPES)
def test_check_envelope(envelope, problem):
    """Malformed envelopes are named; good ones pass."""
    found = check_envelope(envelope)
    assert (found is None) if problem is None else (problem in found)


def test_usernames_never_raise():
    """fedmsg.meta failures mean no usernames, not a dead consumer."""
    usernames = usernames_from_meta({})
    assert set(usernames({"topic": "org.fedoraproject.prod.x.y", "msg": None})) == set()
