"""A fleet: three real hub processes behind a real HAProxy, sharing PostgreSQL, two memcached servers and the bus."""

from __future__ import annotations

import html
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest

from hubs.demo.messages import bodhi_comment
from tests.conftest import IN_CI, OIDCProvider, need_service, services_settings
from tests.fleet import HAPROXY, Fleet, Memcached
from tests.hubproc import BlockingStream, free_port
from tests.test_e2e_stream import Events, call
from tests.waiting import holds_for, wait_for

pytestmark = pytest.mark.e2e

EVENT_DEADLINE = 10.0


@pytest.fixture(scope="module")
def memcacheds():
    """Two private memcached servers (the fleet's HashClient spreads keys over both)."""
    servers = [Memcached(), Memcached()]
    try:
        for m in servers:
            m.start()
    except FileNotFoundError as e:
        need_service("memcached", str(e))
    yield servers
    for m in servers:
        m.stop()


@pytest.fixture(scope="module")
def oidc_fleet_port():
    return free_port()


@pytest.fixture(scope="module")
def oidc(oidc_fleet_port):
    """The local OIDC provider; its one redirect URI is the second process's callback."""
    provider = OIDCProvider(free_port(), f"http://127.0.0.1:{oidc_fleet_port}/oidc/callback")
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, demo_db, memcacheds, canned_services_process, oidc, oidc_fleet_port):
    if HAPROXY is None:
        if IN_CI:
            pytest.fail("haproxy is not installed (CI=true: real services are required)", pytrace=False)
        need_service("HAProxy", "apt-get install haproxy (tools/dev.sh test does it)")
    extra = {**services_settings(canned_services_process), **oidc.settings(),
             "hubs.oidc.redirect_uri": f"http://127.0.0.1:{oidc_fleet_port}/oidc/callback"}
    servers = ",".join(m.address for m in memcacheds)
    fleet = Fleet(tmp_path_factory.mktemp("fleet"), demo_db, servers, n=3, extra=extra,
                  web_ports=[free_port(), oidc_fleet_port, free_port()])
    with fleet:
        yield fleet


@pytest.fixture(scope="module")
def token(demo_db):
    """An API token of mizmo, an owner of the Design Team hub."""
    return subprocess.run([sys.executable, "-m", "hubs.people.tokens", "--dsn", demo_db, "create", "mizmo", "--name",
                           "fleet"], capture_output=True, text=True, check=True).stdout.strip()


def widget(fleet, plugin: str) -> dict:
    layout = json.loads(fleet.processes[0].get("/designteam/json")[1])
    return next(w for w in layout["columns"]["left"] + layout["columns"]["right"] if w["plugin"] == plugin)


def open_streams(fleet, ports: list[int]) -> list[BlockingStream]:
    """Streams on the Design Team hub, each past its ``hello`` (whose id is kept, as a browser does)."""
    streams = [BlockingStream(port, "/designteam/events") for port in ports]
    for s in streams:
        s.last_id = s.next_event("hello", EVENT_DEADLINE)["id"]
    return streams


def widget_event(stream: BlockingStream, idx: int, predicate=lambda payload: True) -> dict:
    """The first ``widget`` event for ``idx`` on ``stream`` that satisfies ``predicate``."""
    end = time.monotonic() + EVENT_DEADLINE
    while time.monotonic() < end:
        payload = json.loads(stream.next_event("widget", end - time.monotonic())["data"])
        if payload["idx"] == idx and predicate(payload):
            return payload
    raise TimeoutError(f"no widget event for {idx}")


def post(url: str, body: dict, headers: dict, opener=None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class PagePoller:
    """GETs a page through HAProxy every 0.2 s in a thread and keeps every answer's status."""

    def __init__(self, url: str):
        self.url = url
        self.statuses: list[int | str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    r.read()
                    self.statuses.append(r.status)
            except urllib.error.HTTPError as e:
                self.statuses.append(e.code)
            except OSError as e:
                self.statuses.append(type(e).__name__)
            self._stop.wait(0.2)

    def __enter__(self) -> PagePoller:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture
def lone_memcached_fleet(tmp_path, demo_db, canned_services_process):
    """Three processes whose only memcached is a private server the test may freeze (own fleet, torn down after)."""
    if HAPROXY is None:
        need_service("HAProxy", "apt-get install haproxy (tools/dev.sh test does it)")
    memcached = Memcached()
    try:
        memcached.start()
    except FileNotFoundError as e:
        need_service("memcached", str(e))
    try:
        with Fleet(tmp_path / "fleet", demo_db, memcached.address, n=3,
                   extra=services_settings(canned_services_process)) as fleet:
            yield fleet, memcached
    finally:
        if memcached.proc.poll() is None:
            os.kill(memcached.proc.pid, signal.SIGCONT)
        memcached.stop()


# First in the module: its own fleet is started and stopped before the module's shared one starts.
def test_the_only_memcached_frozen_keeps_the_site_up_behind_haproxy(lone_memcached_fleet, token):
    """The only memcached frozen 6 s: no process leaves HAProxy, the stream stays open, edits and pages go on."""
    fleet, memcached = lone_memcached_fleet
    sticky = widget(fleet, "sticky")
    config_url = fleet.haproxy.url + f"/designteam/{sticky['idx']}/config"
    auth = {"Authorization": f"Bearer {token}"}
    stream = BlockingStream(fleet.haproxy.port, "/designteam/events")
    stream.next_event("hello", EVENT_DEADLINE)
    balancer: set[str] = set()
    with PagePoller(fleet.haproxy.url + "/designteam") as poller:
        time.sleep(1.0)  # a few answers with memcached up
        os.kill(memcached.proc.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            status, body = post(config_url, {"text": "Frozen **cache**"}, auth)
            assert status == 200, f"an edit while memcached is frozen: {status} {body[:200]!r}"
            assert "<strong>cache</strong>" in widget_event(stream, sticky["idx"])["html"]
            while time.monotonic() - frozen_at < 6.0:
                balancer.update(fleet.haproxy.server_status().values())
                time.sleep(0.25)
            reports = [fleet.healthz(i) for i in range(3)]
        finally:
            os.kill(memcached.proc.pid, signal.SIGCONT)
        assert balancer == {"UP"}, f"HAProxy saw {balancer} while memcached was frozen\n{fleet.logs()}"
        for report in reports:
            assert report["status"] == "degraded", report
            assert any("memcached" in reason for reason in report["reasons"]), report["reasons"]
        wait_for(lambda: all(fleet.healthz(i)["status"] == "ok" for i in range(3)), 15, "every process ok again")
        status, body = post(config_url, {"text": "Thawed **cache**"}, auth)
        assert status == 200, body
        assert "<strong>cache</strong>" in widget_event(stream, sticky["idx"], lambda p: "Thawed" in p["html"])["html"]
        time.sleep(0.5)
    stream.close()
    assert poller.statuses and set(poller.statuses) == {200}, poller.statuses
    assert "no server available" not in fleet.haproxy.log()


def test_edit_through_one_process_redraws_for_viewers_on_the_others(fleet, token):
    """An owner's edit answered by process 1 reaches viewers on processes 2 and 3, directly and through HAProxy."""
    sticky = widget(fleet, "sticky")
    one, two, three = fleet.processes
    streams = open_streams(fleet, [two.web_port, three.web_port, fleet.haproxy.port, fleet.haproxy.port])
    text = "Fleet **edit** one"
    status, body = one.post_json(f"/designteam/{sticky['idx']}/config", {"text": text}, token=token)
    assert status == 200, body
    for s in streams:
        payload = widget_event(s, sticky["idx"])
        assert "<strong>edit</strong> one" in payload["html"]
        s.close()
    for p in fleet.processes:
        assert json.loads(p.get(sticky["url"])[1])["data"] == {"text": text}


def test_one_data_call_per_invalidation_across_the_fleet(fleet):
    """A bus message heard by all three processes makes one data() call fleet-wide; all viewers get the payload."""
    dummy = widget(fleet, "dummy")
    streams = open_streams(fleet, [p.web_port for p in fleet.processes])
    def builds():
        return [fleet.healthz(i)["builds"] for i in range(3)]

    before = builds()
    fleet.publish("hubs.dummy.poke", {"why": "fleet"})
    versions = {widget_event(s, dummy["idx"])["version"] for s in streams}
    assert len(versions) == 1, "every process pushes the same payload"
    after = builds()  # every viewer has the payload: every process has installed it
    calls = sum(a["data_calls"] - b["data_calls"] for a, b in zip(after, before, strict=True))
    taken = sum(a["from_other_process"] - b["from_other_process"] for a, b in zip(after, before, strict=True))
    assert (calls, taken) == (1, 2), fleet.logs()
    for s in streams:
        s.close()


def test_a_message_builds_only_what_a_page_shows_anywhere_in_the_fleet(fleet):
    """Streams on one hub through one process: a message touching that hub and others makes one data() per
    widget of that hub fleet-wide (the other processes see the viewer mark and take the payload) and none for
    the widgets nobody views, which every process invalidates; viewed later, those are built fresh."""
    from hubs.demo.messages import pagure_issue_new

    one, two, three = fleet.processes
    stream = BlockingStream(two.web_port, "/designteam/events", timeout=3.0)  # 3 s quiet: the storm is over
    stream.next_event("hello", EVENT_DEADLINE)
    before = [fleet.healthz(i)["builds"] for i in range(3)]
    title = f"Scale check {time.monotonic_ns()}"
    envelope = pagure_issue_new("decause", "design", 77, title)  # decause: designteam, marketing, own hub
    fleet.publish(envelope["topic"].split(".", 3)[3], envelope["msg"])
    viewed: dict[int, int] = {}
    end = time.monotonic() + EVENT_DEADLINE
    while time.monotonic() < end:
        try:
            event = stream.next_event("widget", end - time.monotonic())
        except TimeoutError:
            break  # quiet for 3 s: every viewed widget the message touched has arrived
        payload = json.loads(event["data"])
        viewed[payload["idx"]] = payload["version"]
    stream.close()

    def settled():
        now = [fleet.healthz(i)["builds"] for i in range(3)]
        done = all(n["queue_running"] == 0 and n["queue_waiting"] == 0 for n in now)
        return now if done else None

    after = wait_for(settled, 10, "every process done building")
    delta = {k: [a[k] - b[k] for a, b in zip(after, before, strict=True)]
             for k in ("data_calls", "from_other_process", "invalidated")}
    assert viewed, "the designteam feed shows decause's activity"
    assert sum(delta["data_calls"]) == len(viewed), (delta, viewed, fleet.logs())
    assert sum(delta["from_other_process"]) == 2 * len(viewed), delta  # the two processes without the stream
    assert delta["invalidated"][0] == delta["invalidated"][1] == delta["invalidated"][2] > 0, delta

    later = BlockingStream(three.web_port, "/marketing/events", last_event_id="another-process-1")
    feed = None
    end = time.monotonic() + EVENT_DEADLINE
    while feed is None and time.monotonic() < end:
        payload = json.loads(later.next_event("widget", end - time.monotonic())["data"])
        feed = payload if payload["plugin"] == "feed" else None
    later.close()
    assert feed is not None and title in feed["html"], "an invalidated widget, viewed later, shows the message"


def oidc_login(start_url: str, username: str) -> urllib.request.OpenerDirector:
    """Log in through the local provider's development form, starting at ``start_url``; cookies kept."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    response = opener.open(start_url, timeout=10)
    for _ in range(4):  # login form, then consent form, then back to Hubs
        page = response.read().decode()
        # The provider's forms, not Hubs' own search box (every Hubs page has one): back on Hubs, the login is done.
        forms = [a for a in re.findall(r'<form[^>]*action="([^"]+)"', page) if a != "/search"]
        if not forms:
            break
        fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
        if 'name="login"' in page:
            fields.update(login=username, password="any")
        action = urllib.parse.urljoin(response.url, html.unescape(forms[0]))
        response = opener.open(action, urllib.parse.urlencode(fields).encode(), timeout=10)
    assert response.status == 200, response.url
    return opener


def test_login_on_one_process_and_edit_through_another(fleet):
    """A login started on process 1 and finished on process 2; the session and its CSRF token work on process 3."""
    one, two, three = fleet.processes
    opener = oidc_login(one.url + "/login?next=/designteam", "mizmo")
    assert "login of mizmo" in two.log()
    me = json.loads(opener.open(three.url + "/api/me?hub=designteam", timeout=10).read())
    assert me["username"] == "mizmo" and me["csrf"], me
    sticky = widget(fleet, "sticky")
    streams = open_streams(fleet, [one.web_port])
    url = three.url + f"/designteam/{sticky['idx']}/config"
    status, _ = post(url, {"config": {"text": "No token"}}, {}, opener)
    assert status == 403, "a cookie write without the CSRF token is refused"
    status, body = post(url, {"config": {"text": "Signed in on **two**"}}, {"X-CSRF-Token": me["csrf"]}, opener)
    assert status == 200, body
    assert "<strong>two</strong>" in widget_event(streams[0], sticky["idx"])["html"]
    streams[0].close()


def test_killed_process_viewers_reconnect_through_haproxy_to_the_latest_state(fleet, token):
    """SIGKILL one process: its viewers reconnect through HAProxy with Last-Event-ID and end on the latest edit."""
    sticky = widget(fleet, "sticky")
    streams = open_streams(fleet, [fleet.haproxy.port] * 6)
    counts = [fleet.healthz(i)["streams"] for i in range(3)]
    victim = max(range(3), key=lambda i: counts[i])
    assert counts[victim] >= 1, counts
    last_ids = {n: s.last_id for n, s in enumerate(streams)}
    reconnected: set[int] = set()
    fleet.processes[victim].proc.send_signal(signal.SIGKILL)
    fleet.processes[victim].proc.wait(10)
    survivor = fleet.processes[(victim + 1) % 3]
    text = f"After the crash {time.time_ns()}"
    status, body = survivor.post_json(f"/designteam/{sticky['idx']}/config", {"text": text}, token=token)
    assert status == 200, body
    try:
        for n, s in enumerate(streams):
            end = time.monotonic() + 2 * EVENT_DEADLINE
            while True:
                assert time.monotonic() < end, f"stream {n} never saw the latest state"
                try:
                    event = s.next_event(None, end - time.monotonic())
                except (EOFError, OSError):
                    reconnected.add(n)
                    s.close()
                    s = BlockingStream(fleet.haproxy.port, "/designteam/events", last_ids[n])
                    continue
                last_ids[n] = event.get("id", last_ids[n])
                if event["event"] == "widget":
                    payload = json.loads(event["data"])
                    if payload["idx"] == sticky["idx"] and payload["data"] == {"text": text}:
                        break
            s.close()
        assert 1 <= len(reconnected) <= counts[victim], "only the killed process's viewers had to reconnect"
        fleet.haproxy.wait_status({f"hub{victim + 1}": "DOWN"})
    finally:
        fleet.processes[victim].start()
        fleet.haproxy.wait_status({f"hub{victim + 1}": "UP"})


def test_one_memcached_down_pages_served_and_rebuilds_continue_then_it_is_used_again(fleet, memcacheds, token):
    """One of two memcached servers stopped: pages and rebuilds go on; restarted, it stores keys again."""
    sticky = widget(fleet, "sticky")
    down, up = memcacheds
    down.stop()
    try:
        streams = open_streams(fleet, [p.web_port for p in fleet.processes])
        for n in range(3):
            text = f"memcached down {n}"
            status, body = fleet.processes[n].post_json(f"/designteam/{sticky['idx']}/config", {"text": text},
                                                        token=token)
            assert status == 200, body
            for s in streams:
                widget_event(s, sticky["idx"], lambda p, text=text: p["data"] == {"text": text})
        for p in fleet.processes:
            status, page, _ = p.get("/designteam")
            assert status == 200 and b"designteam" in page
            assert json.loads(p.get(sticky["url"])[1])["data"] == {"text": "memcached down 2"}
    finally:
        down.start()
    sets_before = int(down.stats()["cmd_set"])
    edits = iter(range(1000))

    def stored_again():
        # Each new text is a new cache key (built: the streams still view the hub); the HashClient puts about
        # half of them on each server.
        status, _ = fleet.processes[0].post_json(f"/designteam/{sticky['idx']}/config",
                                                 {"text": f"memcached back {next(edits)}"}, token=token)
        return status == 200 and int(down.stats()["cmd_set"]) > sets_before
    try:
        wait_for(stored_again, 30, "the restarted memcached server used again", interval=0.3)
    finally:
        for s in streams:
            s.close()
    assert all(fleet.healthz(i)["memcached"]["ok"] for i in range(3))


def test_one_memcached_down_pages_still_served_through_haproxy(fleet, memcacheds):
    """One of two memcached servers down: HAProxy keeps every process in and the page is served through it."""
    down = memcacheds[0]
    down.stop()
    try:
        def served() -> bool:
            with urllib.request.urlopen(fleet.haproxy.url + "/designteam", timeout=5) as r:
                return r.status == 200

        # HAProxy would take a failing process out after 2 checks 1 s apart: watch longer than that.
        holds_for(served, 4.0, "the page served through HAProxy", interval=0.2)
        assert set(fleet.haproxy.server_status().values()) == {"UP"}
    finally:
        down.start()
        fleet.haproxy.wait_status({f"hub{i}": "UP" for i in range(1, 4)})


def test_a_stream_item_read_through_one_process_is_read_on_anothers_open_page(fleet, token):
    """Issue 16: a bus message reaches mizmo's open stream on every process; read through process 1's API, the
    item is read (and the count drops) on the pages processes 2 and 3 serve — the triage travels as a
    ``hubs.stream.update`` bus message."""
    pages = [Events(p, token) for p in fleet.processes[1:]]
    try:
        first = [page.next("stream-count")["data"] for page in pages]
        fleet.publish("bodhi.update.comment", bodhi_comment("adamw", "mizmo", "inkscape-1.4-2.fc43",
                                                            "FEDORA-2026-fleet1", "Works for me",
                                                            ts=time.time())["msg"])
        items = [page.next("stream-item")["data"] for page in pages]
        assert len({item["id"] for item in items}) == 1  # one message key, known to every process
        key = items[0]["id"]
        for page, before in zip(pages, first, strict=True):
            assert page.next("stream-count")["data"]["unread"] == before["unread"] + 1
        status, body = call(fleet.processes[0], "POST", "/api/stream/items", token,
                            {"ids": [key], "set": {"unread": False}})
        assert status == 200 and json.loads(body)["changed"] == 1, body
        for page, before in zip(pages, first, strict=True):
            change = page.next("stream-change")["data"]
            assert change["ids"] == [key] and change["set"] == {"unread": False}
            assert page.next("stream-count")["data"]["unread"] == before["unread"]
    finally:
        for page in pages:
            page.close()
