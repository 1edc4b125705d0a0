"""Fuzzing every write route of a real hub process: malformed bodies and headers never get a 5xx."""

import http.client
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import IN_CI

pytestmark = pytest.mark.e2e

IDX = st.one_of(st.integers(0, 30), st.integers(-5, 10**12).map(str), st.text(max_size=8).map(
    lambda t: "".join(c for c in t if c.isascii() and c.isalnum()) or "x"))
WRITE_PATHS = st.one_of(
    IDX.map(lambda i: f"/designteam/{i}/config"),
    IDX.map(lambda i: f"/designteam/{i}/move"),
    st.integers(100_000, 200_000).map(lambda i: f"/designteam/{i}/delete"),  # never removes the hub's widgets
    st.just("/designteam/config"), st.just("/designteam/widgets"), st.just("/api/hubs"),
    st.just("/api/hub/designteam/owners"), st.just("/logout"),
    st.sampled_from(["subscribe", "unsubscribe", "star", "unstar", "join", "leave", "explode"]).map(
        lambda a: f"/api/hub/designteam/{a}"),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20)
FIELDS = st.sampled_from(["config", "version", "text", "summary", "plugin", "column", "position", "name", "owners",
                          "username", "owner", "left_width", "archived", "allow_join", "avatar", "topic", "color"])
BODIES = st.one_of(
    JSON.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(FIELDS, JSON, max_size=6).map(lambda v: json.dumps(v).encode()),
    st.dictionaries(FIELDS, JSON, max_size=3).map(lambda v: json.dumps({"config": v, "version": 1}).encode()),
    st.binary(max_size=200),
    st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
    st.text(max_size=40).map(lambda t: json.dumps({"text": t + "\x00", "summary": "\ud800"}).encode("utf-8",
                                                                                                     "surrogatepass")),
)
HEADER_VALUES = st.one_of(st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
                          st.sampled_from([b"application/json", b"text/plain", b"application/json; charset=utf-8"]))
AUTH = st.sampled_from([b"Bearer e2e-admin-token-123456", b"Bearer nope", b"Basic eA==", b"Bearer \xe9", b""])


@settings(max_examples=int(os.environ.get("HUBS_FUZZ_EXAMPLES", "1000")), deadline=None, derandomize=IN_CI,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], database=None)
@given(path=WRITE_PATHS, body=BODIES, content_type=HEADER_VALUES, auth=AUTH,
       extra=st.dictionaries(st.sampled_from([b"Last-Event-ID", b"X-CSRF-Token", b"Accept", b"Cookie"]),
                             HEADER_VALUES, max_size=2))
def test_no_write_gets_a_server_error(hub, path, body, content_type, auth, extra):
    """Whatever the body and headers, a write route answers below 500 (seeded under CI, bounded)."""
    seen = len(hub.log())
    conn = http.client.HTTPConnection("127.0.0.1", hub.web_port, timeout=10)
    try:
        conn.putrequest("POST", path, skip_accept_encoding=True)
        conn.putheader("Content-Type", content_type)
        if auth:
            conn.putheader("Authorization", auth)
        for name, value in extra.items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        answer = response.read()
    finally:
        conn.close()
    assert response.status < 500, (response.status, path, body[:200], answer[:300])
    new_log = hub.log()[seen:]
    assert "Traceback" not in new_log, new_log[-3000:]
