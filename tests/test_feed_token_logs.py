"""A private Atom feed's token is the credential in its URL: no log line carries it (errors, access log)."""

from __future__ import annotations

import logging

import pytest
from twisted.python.failure import Failure
from twisted.web.test.requesthelper import DummyRequest

from hubs.web.common import loggable_uri
from hubs.web.errors import ErrorPages
from hubs.web.server import access_log_line

TOKEN = "Qm9ndXNUb2tlbkJvZ3VzVG9rZW4xMjM0"


@pytest.mark.parametrize(("uri", "logged"), [
    (f"/stream/feed/{TOKEN}.atom".encode(), "/stream/feed/..."),
    (f"/stream/feed/{TOKEN}.atom?x=1".encode(), "/stream/feed/...?x=1"),
    (f"//stream/feed/{TOKEN}.atom".encode(), "//stream/feed/..."),
    (b"/api/stream/filters/3/feed", "/api/stream/filters/3/feed"),
    (b"/designteam/3/json?x=%00", "/designteam/3/json?x=%00"),
    (b"/\xff", "/\ufffd"),
])
def test_a_feed_token_is_left_out_of_a_logged_uri(uri, logged):
    assert loggable_uri(uri) == logged


def test_the_access_log_line_has_no_token():
    request = DummyRequest([b"stream", b"feed", f"{TOKEN}.atom".encode()])
    request.uri = f"/stream/feed/{TOKEN}.atom".encode()
    request.method = b"GET"
    request.clientproto = b"HTTP/1.1"
    request.code = 200
    request.sentLength = 10
    line = access_log_line("[03/Dec/2026:14:00:00 +0000]", request)
    assert "/stream/feed/..." in line and TOKEN not in line


def test_a_crash_serving_a_feed_logs_no_token(caplog):
    """A 500 while serving a feed logs the request, its URI without the token."""
    pages = ErrorPages.__new__(ErrorPages)
    pages._error = lambda request, status, title, message: b""
    request = DummyRequest([b"stream", b"feed", f"{TOKEN}.atom".encode()])
    request.uri = f"/stream/feed/{TOKEN}.atom".encode()
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failure = Failure()
    with caplog.at_level(logging.ERROR, logger="hubs.web.errors"):
        pages._crash(request, failure)
    assert "/stream/feed/..." in caplog.text and TOKEN not in caplog.text
