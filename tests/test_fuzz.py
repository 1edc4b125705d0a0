"""Fuzzing a real hub process: malformed bodies and headers never get a 5xx; odd requests get a status."""

import http.client
import json
import os
import socket
import urllib.parse

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
    st.just("/api/hub/designteam/owners"), st.just("/logout"), st.just("/api/hub/designteam/backfill"),
    st.sampled_from(["subscribe", "unsubscribe", "star", "unstar", "join", "leave", "explode"]).map(
        lambda a: f"/api/hub/designteam/{a}"),
    st.sampled_from(["/api/stream/items", "/api/stream/mutes", "/api/follows", "/api/stream/filters"]),
    IDX.map(lambda i: f"/api/stream/filters/{i}/feed"),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20)
FIELDS = st.sampled_from(["config", "version", "text", "summary", "plugin", "column", "position", "name", "owners",
                          "username", "owner", "left_width", "archived", "allow_join", "avatar", "topic", "color",
                          "ids", "all", "set", "kind", "value", "follow", "query", "view", "snooze"])
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


SEGMENTS = st.one_of(
    st.binary(max_size=12).map(lambda b: urllib.parse.quote_from_bytes(b, safe="").encode()),  # any bytes, %-encoded
    st.binary(min_size=1, max_size=6).map(lambda b: bytes(c for c in b if c > 0x20 and c not in b"?#%/\x7f") or b"x"),
    st.sampled_from([b"designteam", b"static", b"hubs.js", b"1", b"json", b"config", b"more", b"..", b"%00", b"%FF",
                     b"%C3%28", b"api", b"widgets"]),
)
ODD_PATHS = st.lists(SEGMENTS, max_size=5).map(lambda s: b"/" + b"/".join(s)).filter(
    lambda p: not urllib.parse.unquote_to_bytes(p).rstrip(b"/").endswith(b"events"))  # a stream would stay open
ODD_METHODS = st.sampled_from([b"GET", b"GET", b"HEAD", b"POST", b"DELETE", b"OPTIONS", b"PATCH"])
LONG = st.sampled_from([0, 0, 0, 200, 16_500, 40_000])  # bytes added to the path or to one header


def ask_raw(port: int, request: bytes) -> bytes:
    """Send one request on its own connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


@settings(max_examples=int(os.environ.get("HUBS_FUZZ_EXAMPLES", "1000")) // 2, deadline=None, derandomize=IN_CI,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], database=None)
@given(method=ODD_METHODS, path=ODD_PATHS, long_path=LONG, long_header=LONG,
       host=st.sampled_from([b"hubs.test", b"hubs.test:80", b"\xff\xfe", b"caf\xc3\xa9"]))
def test_no_odd_request_gets_a_server_error_or_a_silent_close(hub, method, path, long_path, long_header, host):
    """Odd paths (NUL, bytes that are not UTF-8), long request lines and headers: a status below 500, a sentence
    for an error, no traceback in the log (seeded under CI, bounded)."""
    seen = len(hub.log())
    request = (method + b" " + path + b"a" * long_path + b" HTTP/1.1\r\nHost: " + host +
               b"\r\nConnection: close\r\nX-Pad: " + b"b" * long_header + b"\r\n\r\n")
    answer = ask_raw(hub.web_port, request)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 "), (request[:200], answer[:300])
    status = int(head.split(b" ", 2)[1])
    assert status < 500, (status, request[:200], answer[:300])
    if status >= 400 and method != b"HEAD":
        assert body.strip(), (status, request[:200], head)  # the answer says what is wrong
    new_log = hub.log()[seen:]
    assert "Traceback" not in new_log and "CRITICAL" not in new_log, new_log[-3000:]

SEARCH_TEXT = st.one_of(
    st.text(max_size=60), st.text(alphabet="\"'-()&|!:*<>\\%_ or", max_size=30),
    st.sampled_from(["gimp-1.0-1.fc43", "pymemcache-8.11", '"pushed to stable"', "a or b -c", "", "x" * 250]))
SEARCH_ARGS = st.dictionaries(
    st.sampled_from(["q", "service", "person", "package", "hub", "since", "until", "limit", "before"]),
    st.one_of(SEARCH_TEXT, st.sampled_from(["designteam", "ralph", "2026-11-30", "0", "101", "1e400:1", "5:-1"])),
    max_size=4)


@settings(max_examples=int(os.environ.get("HUBS_FUZZ_EXAMPLES", "300")), deadline=None, derandomize=IN_CI,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], database=None)
@given(path=st.sampled_from(["/api/search", "/search"]), args=SEARCH_ARGS)
def test_no_search_gets_a_server_error(hub, path, args):
    """Whatever the query and filters, a search answers results or a 4xx that says why, never a 5xx."""
    from urllib.parse import quote

    seen = len(hub.log())
    query = "&".join(f"{k}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in args.items())
    conn = http.client.HTTPConnection("127.0.0.1", hub.web_port, timeout=10)
    try:
        conn.request("GET", f"{path}?{query}")
        response = conn.getresponse()
        answer = response.read()
    finally:
        conn.close()
    assert response.status < 500, (response.status, path, args, answer[:300])
    if 400 <= response.status < 500 and path == "/api/search":
        assert json.loads(answer).get("message") or json.loads(answer).get("error"), answer
    new_log = hub.log()[seen:]
    assert "Traceback" not in new_log, new_log[-3000:]
