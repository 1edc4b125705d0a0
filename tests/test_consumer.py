"""The consumer's message checks (the rest is covered end to end in test_e2e_hub.py)."""

import pytest

from hubs.consumer import check_envelope

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


def test_meta_never_raises():
    """fedmsg.meta failures mean no usernames or subtitle, not a dead consumer."""
    from hubs.bus.meta import MessageMeta

    meta = MessageMeta({}, load_processors=False)
    broken = {"topic": "org.fedoraproject.prod.x.y", "msg": None}
    assert meta.usernames(broken) == frozenset() and meta.packages(broken) == frozenset()
    assert meta.subtitle(broken) and meta.link(broken) == "" and meta.icon(broken) == ""
