"""In real headless Chromium: /designteam pages load, redraw live, survive a hub restart, isolate a failing widget.

Two browser contexts (two independent viewers, no shared cookies or cache) watch one real ``fedmsg-hub``.
The tests of the live hub share one hub and the two pages and run in file order; each one measures the page
state it starts from, so any of them also passes alone (``-k``).
"""

from __future__ import annotations

import json
import re
import signal
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from hubs.db.migrate import migrate
from hubs.db.populate import load_demo
from tests.conftest import drop_database, fresh_database, need_service, services_settings
from tests.hubproc import HubProcess

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
WAIT_MS = 15_000
# The demo widgets of /designteam these tests reason about: their data is local (no outside service) and only
# the dummy reacts to hubs.dummy.poke. Other demo widgets may come and go; they must load, nothing more.
CORE = ("about", "sticky", "dummy", "stats", "rules")
POLL_MS = 50  # poll page conditions on a timer: requestAnimationFrame (the default) stalls in unpainted pages
SCREENSHOT = Path("/tmp/browser-live.png")
expect.set_options(timeout=WAIT_MS)

# Page-side probes (run in the browser).
JS_ALL_LOADED = "() => document.querySelectorAll('.widget').length > 0 && !document.querySelector('.widget.loading')"
JS_LIVE_IN = "states => states.includes(document.body.getAttribute('data-live'))"
JS_VERSIONS = """() => Object.fromEntries([...document.querySelectorAll('#hub .widget')]
    .map(el => [el.getAttribute('data-idx'), Number(el.getAttribute('data-version') || 0)]))"""
JS_VERSION_ABOVE = "([idx, v]) => Number(document.getElementById('widget-' + idx)?.getAttribute('data-version')) > v"
JS_HTML_HAS = "([idx, s]) => (document.getElementById('widget-' + idx)?.innerHTML || '').includes(s)"
# Records every frame that gets the "changed" highlight from now on (it only lasts 0.9 s, so watch, don't poll).
JS_WATCH_CHANGES = """() => {
    window.__changed = [];
    if (window.__changedObserver) window.__changedObserver.disconnect();
    window.__changedObserver = new MutationObserver(records => {
        for (const r of records) {
            if (r.target.classList && r.target.classList.contains('changed')) {
                window.__changed.push(Number(r.target.getAttribute('data-idx')));
            }
        }
    });
    window.__changedObserver.observe(document.getElementById('hub'),
                                     {subtree: true, attributes: true, attributeFilter: ['class']});
}"""


@dataclass
class Viewer:
    """One browser context with the hub page open, and the script errors it raised."""

    name: str
    page: Page
    errors: list[str] = field(default_factory=list)

    def versions(self) -> dict[int, int]:
        return {int(k): v for k, v in self.page.evaluate(JS_VERSIONS).items()}

    def wait_loaded(self) -> None:
        self.page.wait_for_function(JS_ALL_LOADED, timeout=WAIT_MS, polling=POLL_MS)

    def wait_live(self, *states: str) -> None:
        self.page.wait_for_function(JS_LIVE_IN, arg=list(states or ("live",)), timeout=WAIT_MS, polling=POLL_MS)

    def wait_version_above(self, idx: int, version: int) -> None:
        self.page.wait_for_function(JS_VERSION_ABOVE, arg=[idx, version], timeout=WAIT_MS, polling=POLL_MS)

    def wait_html(self, idx: int, fragment: str) -> None:
        self.page.wait_for_function(JS_HTML_HAS, arg=[idx, fragment], timeout=WAIT_MS, polling=POLL_MS)

    def html(self, idx: int) -> str:
        return self.page.locator(f"#widget-{idx}").inner_html()

    def mark(self, value: str) -> None:
        """Leave a value in ``window``: it survives redraws and is gone after any reload."""
        self.page.evaluate("v => { window.__marker = v; }", value)

    def marker(self):
        return self.page.evaluate("() => window.__marker")

    def watch_changes(self) -> None:
        self.page.evaluate(JS_WATCH_CHANGES)

    def changed(self) -> set[int]:
        return set(self.page.evaluate("() => window.__changed || []"))


def open_viewer(browser: Browser, url: str, name: str) -> Viewer:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    viewer = Viewer(name, page)
    page.on("pageerror", lambda e: viewer.errors.append(str(e)))
    page.goto(url)
    return viewer


def widgets_by_plugin(hub: HubProcess, name: str = "designteam") -> dict[str, dict]:
    status, body, _ = hub.get(f"/{name}/json")
    assert status == 200, body
    layout = json.loads(body)
    return {w["plugin"]: w for column in ("left", "right") for w in layout["columns"][column]}


def server_version(hub: HubProcess, widget: dict) -> int:
    status, body, _ = hub.get(widget["url"])
    assert status == 200, body
    return json.loads(body)["version"]


def assert_only_redrawn(viewer: Viewer, before: dict[int, int], idx: int, others: set[int]) -> None:
    """``idx`` was redrawn in place (newer version, highlighted); none of ``others`` was touched."""
    after = viewer.versions()
    assert after[idx] > before[idx], viewer.name
    assert {i: after[i] for i in others} == {i: before[i] for i in others}, viewer.name
    highlighted = viewer.changed()
    assert idx in highlighted and not highlighted & others, f"{viewer.name}: highlighted {highlighted}"


def memcached_str(servers) -> str:
    return ",".join(f"{h}:{p}" for h, p in servers)


# ---------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        need_service("Chromium", f"{CHROMIUM} is missing (apt-get install chromium; make test does it)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def hub(tmp_path_factory, demo_db, memcached_servers, canned_services_process):
    process = HubProcess(tmp_path_factory.mktemp("browser-hub"), demo_db, memcached_str(memcached_servers),
                         extra=services_settings(canned_services_process))
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def widgets(hub):
    """Every widget of /designteam by plugin."""
    found = widgets_by_plugin(hub)
    assert set(CORE) <= set(found), found
    return found


@pytest.fixture(scope="module")
def core(widgets):
    """The core demo widgets by plugin."""
    return {plugin: widgets[plugin] for plugin in CORE}


@pytest.fixture(scope="module")
def viewers(browser, hub):
    opened = [open_viewer(browser, hub.url + "/designteam", name) for name in ("alice", "bob")]
    yield opened
    for viewer in opened:
        viewer.page.context.close()


@pytest.fixture
def live_viewers(viewers, widgets):
    """Both pages fully loaded and live before the test acts; no script error raised in them during it."""
    for viewer in viewers:
        viewer.wait_loaded()
        viewer.wait_live("live")
    yield viewers
    for viewer in viewers:
        assert viewer.errors == [], f"{viewer.name}'s page raised: {viewer.errors}"


# ---------------------------------------------------------------------------------------------------- live hub


def test_both_pages_load_every_widget_and_go_live(hub, widgets, core, live_viewers):
    """Two pages on /designteam load every widget frame with the server's current data and show Live."""
    for viewer in live_viewers:
        page = viewer.page
        expect(page.locator("#live")).to_have_class("live live-live")
        expect(page.locator("#live .live-text")).to_have_text("Live")
        expect(page.locator(".widget.loading")).to_have_count(0)
        versions = viewer.versions()
        assert set(versions) == {w["idx"] for w in widgets.values()}
        for plugin, w in widgets.items():
            expect(page.locator(f"#widget-{w['idx']}")).to_have_attribute("data-plugin", plugin)
            assert versions[w["idx"]] > 0, (viewer.name, plugin)
        for plugin, w in core.items():
            assert versions[w["idx"]] == server_version(hub, w), (viewer.name, plugin)
            expect(page.locator(f"#widget-{w['idx']} .widget-error")).to_have_count(0)
        drawn = page.evaluate("() => window.hubsPage.drawn")
        assert {int(k): v for k, v in drawn.items()} == versions
    sticky = widgets["sticky"]["idx"]
    assert "F42 wallpaper" in live_viewers[0].html(sticky) and "F42 wallpaper" in live_viewers[1].html(sticky)


def test_bus_message_redraws_only_its_widget_in_both_pages_without_reload(hub, core, live_viewers):
    """hubs.dummy.poke from another process redraws the dummy widget, not the others, in both pages in place."""
    dummy = core["dummy"]["idx"]
    others = {w["idx"] for w in core.values()} - {dummy}
    before = {v.name: v.versions() for v in live_viewers}
    for viewer in live_viewers:
        viewer.mark("before-poke")
        viewer.watch_changes()

    hub.publish("hubs.dummy.poke", {"why": "browser test"})

    for viewer in live_viewers:
        viewer.wait_version_above(dummy, before[viewer.name][dummy])
    live_viewers[0].page.screenshot(path=str(SCREENSHOT), full_page=True)
    current = server_version(hub, core["dummy"])
    for viewer in live_viewers:
        assert viewer.marker() == "before-poke", f"{viewer.name}'s page reloaded"
        assert_only_redrawn(viewer, before[viewer.name], dummy, others)
        assert viewer.versions()[dummy] == current
        expect(viewer.page.locator(f"#widget-{dummy} .widget-error")).to_have_count(0)


def test_config_post_redraws_the_sticky_note_in_both_pages(hub, core, live_viewers):
    """POST /designteam/<sticky>/config shows the new markdown in both pages, without a reload."""
    sticky = core["sticky"]["idx"]
    others = {w["idx"] for w in core.values()} - {sticky}
    before = {v.name: v.versions() for v in live_viewers}
    for viewer in live_viewers:
        viewer.mark("before-edit")
        viewer.watch_changes()

    status, body = hub.post_json(f"/designteam/{sticky}/config", {"text": "Edited **live**"})
    assert status == 200, body

    for viewer in live_viewers:
        viewer.wait_html(sticky, "<strong>live</strong>")
        assert viewer.marker() == "before-edit", f"{viewer.name}'s page reloaded"
        assert_only_redrawn(viewer, before[viewer.name], sticky, others)
        assert viewer.versions()[sticky] == server_version(hub, core["sticky"])
        assert "F42 wallpaper" not in viewer.html(sticky)


def test_pages_reconnect_after_a_hub_restart_and_catch_up(hub, widgets, core, live_viewers):
    """After SIGTERM and a restart on the same port, both pages reconnect alone and show data changed while down."""
    sticky = core["sticky"]["idx"]
    before = {v.name: v.versions() for v in live_viewers}
    old_ids = {v.name: v.page.evaluate("() => window.hubsPage.lastId()") for v in live_viewers}
    for viewer in live_viewers:
        viewer.mark("before-restart")
    port, first = hub.web_port, hub.proc

    took = hub.stop(signal.SIGTERM)
    try:
        assert first.returncode == 0, hub.log()[-3000:]
        assert took < 1.0, f"SIGTERM with two pages open took {took:.2f}s"
        for viewer in live_viewers:
            viewer.wait_live("reconnecting", "offline")
            expect(viewer.page.locator("#live")).to_have_class(re.compile(r"\blive-(reconnecting|offline)\b"))

        # While the hub is down, someone changes the note straight in PostgreSQL.
        conn = psycopg2.connect(hub.dsn)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("""UPDATE widgets SET config = '{"text": "Changed while down"}', version = version + 1"""
                            " WHERE id = %s", (sticky,))
                assert cur.rowcount == 1
        finally:
            conn.close()
        for viewer in live_viewers:  # nothing can reach the pages now
            assert viewer.page.evaluate("() => document.body.dataset.live") in ("reconnecting", "offline")
            assert "Changed while down" not in viewer.html(sticky)
    finally:
        hub.start()  # the same HubProcess again: same config, same web port
    assert hub.proc is not first and hub.proc.poll() is None
    assert hub.web_port == port and hub.url == f"http://127.0.0.1:{port}"

    for viewer in live_viewers:
        viewer.wait_live("live")
        viewer.wait_html(sticky, "Changed while down")
        assert viewer.marker() == "before-restart", f"{viewer.name}'s page reloaded"
        new_id = viewer.page.evaluate("() => window.hubsPage.lastId()")
        assert new_id.rpartition("-")[0] != old_ids[viewer.name].rpartition("-")[0], "no new boot id"
        after = viewer.versions()
        assert after[sticky] > before[viewer.name][sticky]
        for plugin, w in widgets.items():  # never older data than before the restart
            assert after[w["idx"]] >= before[viewer.name][w["idx"]], (viewer.name, plugin)
        for plugin, w in core.items():  # and what the new process serves
            assert after[w["idx"]] == server_version(hub, w), (viewer.name, plugin)
            expect(viewer.page.locator(f"#widget-{w['idx']} .widget-error")).to_have_count(0)
        expect(viewer.page.locator(".widget.loading")).to_have_count(0)

    # The restarted hub pushes edits as before.
    versions = {v.name: v.versions()[sticky] for v in live_viewers}
    status, body = hub.post_json(f"/designteam/{sticky}/config", {"text": "Edited **again** after the restart"})
    assert status == 200, body
    for viewer in live_viewers:
        viewer.wait_html(sticky, "<strong>again</strong>")
        assert viewer.versions()[sticky] > versions[viewer.name]
        assert "Changed while down" not in viewer.html(sticky)
        assert viewer.marker() == "before-restart", f"{viewer.name}'s page reloaded"


def test_page_whose_first_loads_failed_fills_its_frames_once_live(hub, widgets, core, browser):
    """A page that could reach neither the stream nor the widgets at first loads them when the stream comes up."""
    context = browser.new_context()
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # The hub served the page, then became unreachable (e.g. restarted) before the page's own requests.
        unreachable = ["**/designteam/events*", "**/designteam/*/json"]
        for pattern in unreachable:
            page.route(pattern, lambda route: route.abort("connectionrefused"))
        page.goto(hub.url + "/designteam")
        page.wait_for_function(JS_ALL_LOADED, timeout=WAIT_MS, polling=POLL_MS)  # the 3 s fallback tried, and failed
        expect(page.locator(".widget .widget-error")).to_have_count(len(widgets))
        assert page.evaluate("() => document.body.dataset.live") == "reconnecting"
        page.evaluate("() => { window.__marker = 'cold'; }")

        for pattern in unreachable:
            page.unroute(pattern)
        page.wait_for_function(JS_LIVE_IN, arg=["live"], timeout=WAIT_MS, polling=POLL_MS)
        for plugin, w in widgets.items():  # every frame drawn from a payload, not left with the fetch error
            expect(page.locator(f"#widget-{w['idx']}")).to_have_attribute("data-version", re.compile(r"^\d+$"))
            assert page.locator(f"#widget-{w['idx']}").get_attribute("data-plugin") == plugin
        for w in core.values():
            expect(page.locator(f"#widget-{w['idx']}")).to_have_attribute("data-version",
                                                                          str(server_version(hub, w)))
            expect(page.locator(f"#widget-{w['idx']} .widget-error")).to_have_count(0)
        assert page.evaluate("() => window.__marker") == "cold", "the page reloaded"
        assert errors == [], errors
    finally:
        context.close()


# ---------------------------------------------------------------------------------------------------- failing widget


def test_failing_widget_shows_its_error_in_its_own_frame(tmp_path, browser, pg_admin_dsn, memcached_servers):
    """A widget whose config fails validation shows an error in its frame; every other frame loads normally."""
    dsn = fresh_database(pg_admin_dsn, "hubs_browser")
    process = None
    try:
        migrate(dsn)
        load_demo(dsn)
        conn = psycopg2.connect(dsn)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("""UPDATE widgets SET config = config || '{"color": "pink"}'"""
                            " WHERE hub = 'designteam' AND plugin = 'dummy' RETURNING id")
                (dummy,) = cur.fetchone()
        finally:
            conn.close()
        process = HubProcess(tmp_path, dsn, memcached_str(memcached_servers))
        process.start()
        widgets = widgets_by_plugin(process)
        assert set(CORE) <= set(widgets) and widgets["dummy"]["idx"] == dummy
        status, body, _ = process.get(widgets["dummy"]["url"])
        payload = json.loads(body)
        assert status == 200 and "color" in payload["error"] and payload["data"] is None, payload

        viewer = open_viewer(browser, process.url + "/designteam", "carol")
        try:
            viewer.wait_loaded()
            viewer.wait_live("live")
            page = viewer.page
            failing = page.locator(f"#widget-{dummy}")
            expect(failing).to_have_class(re.compile(r"\bfailed\b"))
            expect(failing.locator(".panel")).to_contain_text("Dummy")  # its own panel, with its title
            expect(failing.locator(".widget-error")).to_have_count(1)
            expect(failing.locator(".widget-error")).to_contain_text("configuration is invalid")
            expect(failing.locator(".widget-error")).to_contain_text("color")
            for plugin in CORE:
                if plugin == "dummy":
                    continue
                frame = page.locator(f"#widget-{widgets[plugin]['idx']}")
                expect(frame).not_to_have_class(re.compile(r"\b(failed|loading)\b"))
                expect(frame.locator(".widget-error")).to_have_count(0)
                assert frame.get_attribute("data-version"), plugin
            expect(page.locator(".widget.loading")).to_have_count(0)
            assert viewer.errors == [], viewer.errors
        finally:
            viewer.page.context.close()
    finally:
        if process is not None:
            process.stop()
        drop_database(pg_admin_dsn, dsn)
