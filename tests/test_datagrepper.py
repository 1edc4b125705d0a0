"""datagrepper's /v2/search: reading both eras of messages (a table of cases), and one suite for the adapter
over the canned datagrepper (real HTTP) and its fake, over the same records."""

import dataclasses
import datetime
import json

import fedmsg.config
import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.web.server import Site

from hubs.bus.meta import MessageMeta
from hubs.demo import messages as fedmsg_era
from hubs.demo import schema_messages as schema_era
from hubs.demo.history import DAY, records_between
from hubs.demo.services import CannedServices
from hubs.services.datagrepper import (
    Datagrepper,
    DatagrepperError,
    HistoryQuery,
    read_answer,
    read_raw,
    search_records,
)
from hubs.services.http import ServiceError, TreqClient
from hubs.testing.history import FakeHistory

META = MessageMeta(fedmsg.config.load_config([], None))
NOW = 1_796_000_000.0  # a fixed moment: the demo history is the same at every run
RECORDS = records_between(NOW - 3 * DAY, NOW, NOW)
SENT = datetime.datetime(2026, 11, 29, 10, tzinfo=datetime.UTC).timestamp()  # the sent-at headers below


def schema_item(message, ts=NOW - 100):
    headers = dict(message._properties.headers)
    headers["sent-at"] = "2026-11-29T10:00:00+00:00"
    return {"body": message.body, "headers": headers, "id": "amqp-1", "priority": 0, "queue": None,
            "topic": message.topic}


BADGE = schema_era.badge_award("mizmo", "Speak Up!")
ENVELOPE = fedmsg_era.git_receive("ralph", "gimp", "Fix the build", ts=NOW - 50)


@pytest.mark.parametrize(("name", "item", "expected"), [
    ("a Fedora Messaging message: its schema class's meaning, time from sent-at", schema_item(BADGE),
     {"source": "amqp", "id": "amqp-1", "usernames": {"mizmo"}, "time": SENT,
      "topic": "org.fedoraproject.prod.badges.badge.award"}),
    ("the fedmsg era in /v2/search's shape: fedmsg.meta's meaning",
     {"body": ENVELOPE["msg"], "headers": {"sent-at": "2026-11-29T10:00:00Z"}, "id": "fm-1",
      "topic": ENVELOPE["topic"]},
     {"source": "fedmsg", "id": "fm-1", "usernames": {"ralph"}, "packages": {"gimp"}, "time": SENT}),
    ("the fedmsg era with no headers, a timestamp", {"body": ENVELOPE["msg"], "headers": None, "id": "fm-2",
                                                     "topic": ENVELOPE["topic"], "timestamp": NOW - 50},
     {"source": "fedmsg", "id": "fm-2", "time": NOW - 50}),
    ("/raw's fedmsg envelope", ENVELOPE, {"source": "fedmsg", "id": ENVELOPE["msg_id"], "time": NOW - 50,
                                          "usernames": {"ralph"}}),
    ("an unknown schema: the base class, no meaning but the topic",
     {"body": {"x": 1}, "headers": {"fedora_messaging_schema": "nobody.knows.v1", "sent-at": "2026-11-29T10:00:00"},
      "id": "u-1", "topic": "org.fedoraproject.prod.nobody.knows"},
     {"source": "amqp", "id": "u-1", "usernames": set(), "time": SENT}),
    ("no time at all: unusable (it would be stored as happening now)",
     {"body": {}, "headers": {}, "id": "t-1", "topic": "org.fedoraproject.prod.a.b"}, None),
    ("no id: unusable", {"body": {}, "headers": {"sent-at": "2026-11-29T10:00:00"}, "topic": "org.fp.prod.a.b"}, None),
    ("a topic Hubs cannot read", {"body": {}, "headers": {"sent-at": "2026-11-29T10:00:00"}, "id": "x",
                                  "topic": "short"}, None),
    ("a body that is not an object", {"body": [1], "headers": {"sent-at": "2026-11-29T10:00:00"}, "id": "x",
                                      "topic": "org.fedoraproject.prod.a.b"}, None),
    ("junk", {"body": {}, "headers": {"sent-at": "2026-11-29T10:00:00"}, "id": "j",
              "topic": "org.fedoraproject.prod.buildsys.repo.init"}, None),
    ("not an object", "a string", None),
])
def test_reading_raw_messages(name, item, expected):
    """Each era of datagrepper's answers becomes the BusMessage the bus gave; what cannot be read, None."""
    message = read_raw(item, META, ["buildsys.repo.init"])
    if expected is None:
        assert message is None
        return
    assert message is not None
    for field, value in expected.items():
        got = getattr(message, field)
        assert (set(got) if isinstance(got, frozenset) else got) == value, field
    assert message.summary


@pytest.mark.parametrize("answer", [None, [], {"raw_messages": "x"}, {"raw_messages": [], "total": "3", "pages": 1},
                                    {"raw_messages": [], "total": 1, "pages": -1}, {"total": 1}])
def test_answers_of_the_wrong_shape_are_a_service_error(answer):
    """An answer that is not a search answer is a ServiceError saying so, never a crash."""
    with pytest.raises(DatagrepperError):
        read_answer(answer, 1)


def test_unreadable_messages_are_counted_not_fatal():
    """A page with one unusable message gives the others and counts the one."""
    page = read_answer({"raw_messages": [schema_item(BADGE), {"nope": 1}], "total": 2, "pages": 1}, 1, META)
    assert len(page.messages) == 1 and page.unreadable == 1


@pytest.mark.parametrize(("args", "problem"), [
    ({"rows_per_page": ["101"]}, "rows_per_page"), ({"rows_per_page": ["0"]}, "rows_per_page"),
    ({"page": ["0"]}, "page"), ({"start": ["yesterday"]}, "start"), ({"end": ["nan"]}, "end"),
    ({"order": ["sideways"]}, "order"),
])
def test_searches_datagrepper_refuses(args, problem):
    """The canned datagrepper refuses what datagrepper refuses, saying which parameter."""
    from hubs.services.datagrepper import BadSearch

    with pytest.raises(BadSearch, match=problem):
        search_records(RECORDS, args, NOW)


# ---------------------------------------------------------------- one suite, fake and real


@pytest.fixture(scope="module")
def canned_history():
    """The canned services, in-process, serving RECORDS as datagrepper; yields the base URL."""
    site = Site(CannedServices(now=lambda: NOW, history=RECORDS).app.resource())
    site.log = lambda request: None
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    yield f"http://127.0.0.1:{port.getHost().port}"
    pytest_twisted.blockon(defer.maybeDeferred(port.stopListening))


@pytest.fixture(params=["fake", "canned over HTTP"])
def history(request):
    if request.param == "fake":
        return FakeHistory(RECORDS, NOW, META)
    base = request.getfixturevalue("canned_history")
    return Datagrepper(TreqClient(reactor, timeout=5.0, allow_private=True), base, META)


def window(**kw):
    return HistoryQuery(**{"start": NOW - 3 * DAY, "end": NOW, **kw})


@pytest_twisted.ensureDeferred
async def test_a_window_pages_through_everything_once(history):
    """Paging a window ascending gives every message in it once, in time order, with datagrepper's counts."""
    first = await history.search(window(rows_per_page=25))
    assert first.total == len(RECORDS) and first.pages == -(-len(RECORDS) // 25)
    seen = list(first.messages)
    for page in range(2, first.pages + 1):
        seen += (await history.search(window(rows_per_page=25, page=page))).messages
    assert [m.id for m in seen] == [r.item["id"] for r in RECORDS]
    assert [m.time for m in seen] == sorted(m.time for m in seen)
    assert {m.source for m in seen} == {"fedmsg", "amqp"}  # both eras


@pytest_twisted.ensureDeferred
async def test_filters_by_people_or_together(history):
    """``user`` is OR within the parameter; a message about neither person is not returned."""
    page = await history.search(window(users=("mizmo", "ralph")))
    expected = [r.item["id"] for r in RECORDS if r.usernames & {"mizmo", "ralph"}]
    assert [m.id for m in page.messages] == expected[:100] and page.total == len(expected)
    assert all(m.usernames & {"mizmo", "ralph"} for m in page.messages)


@pytest_twisted.ensureDeferred
async def test_time_windows_are_half_open(history):
    """``start`` is in, ``end`` is out: consecutive windows never share a message."""
    middle = RECORDS[len(RECORDS) // 2].ts
    before = await history.search(window(end=middle))
    after = await history.search(window(start=middle))
    ids = [m.id for m in before.messages] + [m.id for m in after.messages]
    assert len(ids) == len(set(ids)) and before.total + after.total == len(RECORDS)
    assert RECORDS[len(RECORDS) // 2].item["id"] in {m.id for m in after.messages}


@pytest_twisted.ensureDeferred
async def test_descending_order_and_other_filters(history):
    """``order=desc`` newest first; ``category`` and ``not_user`` narrow."""
    page = await history.search(window(order="desc", rows_per_page=5))
    assert [m.id for m in page.messages] == [r.item["id"] for r in RECORDS[::-1][:5]]
    page = await history.search(window(categories=("bodhi",), not_users=("mizmo",)))
    assert page.messages and all(".bodhi." in m.topic and "mizmo" not in m.usernames for m in page.messages)


@pytest_twisted.ensureDeferred
async def test_an_empty_window(history):
    """A window with nothing in it: no messages, no pages, no error."""
    page = await history.search(window(start=NOW - 10 * DAY, end=NOW - 9 * DAY))
    assert page.messages == () and page.total == 0 and page.pages == 0


def test_query_parameters():
    """The query string datagrepper reads: both ends of the window always, lists repeated, at most 100 rows."""
    query = HistoryQuery(start=10.0, end=20.5, users=("a", "b"), page=2)
    assert query.params() == {"start": "10", "end": "20.5", "page": 2, "rows_per_page": 100, "order": "asc",
                              "user": ["a", "b"]}
    with pytest.raises(ValueError):
        dataclasses.replace(query, rows_per_page=101).params()


@pytest.mark.parametrize(("path", "reason"), [("/broken", "HTTP 500"), ("/odd", "raw_messages")])
@pytest_twisted.ensureDeferred
async def test_bad_answers_are_service_errors(canned_history, path, reason):
    """A failing or nonsensical datagrepper is a ServiceError with a readable reason, never a crash."""
    history = Datagrepper(TreqClient(reactor, timeout=5.0, allow_private=True), canned_history + path, META)
    with pytest.raises(ServiceError, match=reason):
        await history.search(window())


@pytest_twisted.ensureDeferred
async def test_the_canned_datagrepper_refuses_with_400(canned_history):
    """More than 100 rows a page: a 400 naming the parameter (the adapter never asks it)."""
    import treq

    response = await treq.get(canned_history + "/v2/search", params={"rows_per_page": "500"})
    assert response.code == 400 and "rows_per_page" in json.loads(await response.content())["error"]
