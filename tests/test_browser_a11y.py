"""In real Chromium: a page everyone can use.

axe-core (installed from npm into ``tests/axe``, injected into each page) finds no violation on any page or state,
desktop and phone; and a person using the keyboard, a screen reader or a phone keeps their place: the focus stays on
the control they used, the page does not jump, pages loaded with "More" stay, live redraws are announced, and "Live"
turns to "Reconnecting…" when the hub stops answering.

One hub (keep-alive every 3 s) and one provider for the module; every test opens its own browser contexts.
"""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from hubs.demo.messages import pagure_issue_new
from tests.conftest import OIDCProvider, need_service, services_settings
from tests.hubproc import HubProcess, free_port

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
KEEPALIVE = 3.0  # hubs.sse.keepalive of this module's hub
GRACE = max(2.0, KEEPALIVE / 3)  # what the page waits past a keep-alive before it says "Reconnecting…" (hubs.js)
WAIT_MS = 15_000
POLL_MS = 50
expect.set_options(timeout=WAIT_MS)

# Every page a visitor can reach (the signed-in person's stream page: tests/test_browser_stream.py).
PAGES = ["/", "/designteam", "/ralph"]

JS_ALL_LOADED = "() => document.querySelectorAll('.widget').length > 0 && !document.querySelector('.widget.loading')"
JS_LIVE_IN = "states => states.includes(document.body.getAttribute('data-live'))"
JS_ACTIVE = """() => { const a = document.activeElement;
    return a === document.body ? 'BODY' : (a.getAttribute('aria-label') || a.id || a.textContent.trim()); }"""
JS_AXE = """async () => {
    const result = await axe.run(document, {rules: {'target-size': {enabled: true}}, resultTypes: ['violations']});
    return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map(n => n.target.join(' ') + ' — ' + (n.failureSummary || '').replace(/\\s+/g, ' '))}));
}"""


# ---------------------------------------------------------------------------------------------------- helpers


def assert_no_axe_violations(page: Page, state: str) -> None:
    """Inject axe-core (once per document) and fail with every rule and node it flags."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    violations = page.evaluate(JS_AXE)
    report = "\n".join(f"  {v['id']} ({v['impact']}): {v['help']}\n" + "\n".join(f"      {n}" for n in v["nodes"])
                       for v in violations)
    assert not violations, f"axe-core on {state} ({page.url}):\n{report}"


def active(page: Page) -> str:
    """The accessible name (or id, or text) of the focused element; 'BODY' when nothing has the focus."""
    return page.evaluate(JS_ACTIVE)


def wait_loaded(page: Page) -> None:
    page.wait_for_function(JS_ALL_LOADED, timeout=WAIT_MS, polling=POLL_MS)


def wait_live(page: Page, *states: str) -> None:
    page.wait_for_function(JS_LIVE_IN, arg=list(states or ("live",)), timeout=WAIT_MS, polling=POLL_MS)


def announcements(page: Page) -> list[str]:
    return page.evaluate("() => window.hubsPage.announcements.slice()")


def wait_announced(page: Page, fragment: str) -> None:
    page.wait_for_function("f => window.hubsPage.announcements.some(a => a.includes(f))", arg=fragment,
                           timeout=WAIT_MS, polling=POLL_MS)


def layout(hub: HubProcess, name: str = "designteam") -> dict:
    return json.loads(hub.get(f"/{name}/json")[1])


def widget_idx(hub: HubProcess, plugin: str, name: str = "designteam") -> int:
    return next(w["idx"] for c in layout(hub, name)["columns"].values() for w in c if w["plugin"] == plugin)


def column_of(hub: HubProcess, idx: int) -> tuple[str, int]:
    for column, widgets in layout(hub)["columns"].items():
        for position, w in enumerate(widgets):
            if w["idx"] == idx:
                return column, position
    raise AssertionError(f"widget {idx} is not on the hub")


def top(page: Page, selector: str) -> float:
    return page.locator(selector).evaluate("e => e.getBoundingClientRect().top")


def item_top(page: Page, key: str) -> float:
    """Where the feed item with ``key`` is on screen."""
    return page.evaluate("""k => [...document.querySelectorAll('.feed-item')].find(e => e.dataset.key === k)
        .getBoundingClientRect().top""", key)


def scroll_to(page: Page, selector: str, y: float) -> None:
    """Scroll so that ``selector`` is ``y`` px below the top of the window."""
    page.locator(selector).evaluate("(e, y) => window.scrollBy(0, e.getBoundingClientRect().top - y)", y)


def publish_activity(hub: HubProcess, user: str, number: int, title: str) -> None:
    """A Pagure ticket filed by ``user`` on the bus: the Activity widget of their teams gets a new item."""
    envelope = pagure_issue_new(user, "design", number, title)
    hub.publish_raw([[envelope["topic"].encode(), json.dumps(envelope).encode()]])


# ---------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def setup(tmp_path_factory, demo_db, memcached_servers, canned_services_process):
    if not Path(CHROMIUM).exists():
        need_service("Chromium", f"{CHROMIUM} is missing (make test installs it)")
    if not AXE.exists():
        need_service("axe-core", "run `npm ci --prefix tests/axe` (make test does it)")
    provider_port = free_port()
    servers = ",".join(f"{h}:{p}" for h, p in memcached_servers)
    settings = {**services_settings(canned_services_process), "hubs.admins": ["boss"], "hubs.sse.keepalive": KEEPALIVE}
    hub = HubProcess(tmp_path_factory.mktemp("a11y-hub"), demo_db, servers, extra=settings)
    provider = OIDCProvider(provider_port, hub.url + "/oidc/callback")
    hub.extra.update(provider.settings())
    hub._write_config()
    hub.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            yield hub, browser
            browser.close()
    finally:
        hub.stop()
        provider.stop()


def visit(browser, hub: HubProcess, path: str, viewport: str = "desktop") -> Page:
    """An anonymous visitor's page (a context of its own), with script errors collected in ``page.errors``."""
    page = browser.new_context(viewport=VIEWPORTS[viewport]).new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(hub.url + path)
    return page


def log_in(browser, hub: HubProcess, username: str, path: str = "/designteam", viewport: str = "desktop") -> Page:
    """A new context logged in as ``username`` through the provider's form (not Hubs' pages: not checked)."""
    page = visit(browser, hub, path, viewport)
    page.get_by_role("link", name="Log in", exact=True).click()
    page.locator("input[name=login]").fill(username)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    consent = page.locator("button[type=submit]", has_text="Continue")
    if consent.count():
        consent.click()
    page.wait_for_url(hub.url + path)
    expect(page.locator("#account .account-name")).to_have_text(username)
    return page


def done(page: Page) -> None:
    errors = page.errors
    page.context.close()
    assert errors == [], errors


# ---------------------------------------------------------------------------------------------------- axe-core


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_every_page_a_visitor_reaches_has_no_axe_violation(setup, viewport):
    """The list of hubs, a team hub, a person's hub, a pop-out widget and the error pages pass axe-core."""
    hub, browser = setup
    sticky = widget_idx(hub, "sticky")
    page = visit(browser, hub, "/", viewport)
    for path in PAGES + [f"/designteam/{sticky}"]:
        page.goto(hub.url + path)
        if path != "/" and "/designteam/" not in path:
            wait_loaded(page)
            wait_live(page)
        assert_no_axe_violations(page, f"{path} ({viewport})")
    for path in ("/no-such-hub", "/designteam/987654", "/oidc/callback?code=x&state=y"):  # 404, 404, 400
        response = page.goto(hub.url + path)
        assert response.status in (400, 404), (path, response.status)
        expect(page.locator("main h1")).to_have_count(1)
        assert_no_axe_violations(page, f"the error page of {path} ({viewport})")
    done(page)


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_loading_page_has_no_axe_violation(setup, viewport):
    """While every widget still shows its spinner (nothing answers yet), the page passes axe-core."""
    hub, browser = setup
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    page = context.new_page()
    held = []
    for pattern in ("**/designteam/events*", "**/designteam/*/json"):
        page.route(pattern, lambda route: held.append(route))  # never answered
    page.goto(hub.url + "/designteam")
    expect(page.locator(".widget.loading")).not_to_have_count(0)
    expect(page.locator(".widget.loading .spinner").first).to_have_attribute("aria-hidden", "true")
    assert_no_axe_violations(page, f"a loading page ({viewport})")
    context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_edit_mode_and_every_dialog_have_no_axe_violation(setup, viewport):
    """A site admin's hub page, edit mode, each dialog (also showing errors) and the list with "New team hub"."""
    hub, browser = setup
    page = log_in(browser, hub, "boss", viewport=viewport)
    wait_loaded(page)
    wait_live(page)
    assert_no_axe_violations(page, f"a signed-in visitor's hub page ({viewport})")
    page.locator("#edit-toggle").click()
    expect(page.locator(".edit-bar")).not_to_have_count(0)
    assert_no_axe_violations(page, f"edit mode ({viewport})")

    dialog = page.locator("dialog.editor")
    page.get_by_role("button", name="Sticky note settings").click()
    expect(dialog).to_have_count(1)
    assert_no_axe_violations(page, f"the sticky note's settings ({viewport})")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    page.get_by_role("button", name="Dummy settings").click()
    dialog.locator("input[name=topic]").fill("not a topic")
    dialog.locator("button[type=submit]").click()
    expect(dialog.locator('.field-error[data-for="topic"]')).not_to_be_empty()
    assert_no_axe_violations(page, f"a settings form showing an error ({viewport})")
    page.keyboard.press("Escape")

    page.locator("#add-widget-right").click()
    expect(dialog).to_have_count(1)
    assert_no_axe_violations(page, f"the add-a-widget dialog ({viewport})")
    page.keyboard.press("Escape")

    page.locator("#hub-settings").click()
    expect(dialog.locator("input[name=summary]")).to_have_count(1)
    assert_no_axe_violations(page, f"the hub settings ({viewport})")
    page.keyboard.press("Escape")

    page.goto(hub.url + "/")
    page.locator("#new-hub").click()
    expect(dialog).to_have_count(1)
    assert_no_axe_violations(page, f"the new team hub dialog ({viewport})")
    done(page)


# ---------------------------------------------------------------------------------------------------- structure


def test_hub_page_structure_names_every_landmark_heading_widget_and_button(setup):
    """A skip link first; the header inside <main>; headings h1 → h2 → h3; each widget named; no icon-only links."""
    hub, browser = setup
    page = visit(browser, hub, "/designteam")
    wait_loaded(page)
    page.keyboard.press("Tab")
    assert active(page) == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    expect(page.locator("main h1")).to_contain_text("designteam")
    levels = page.evaluate("() => [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].map(h => +h.tagName[1])")
    assert levels[0] == 1 and all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), levels
    names = page.evaluate("""() => [...document.querySelectorAll('#hub .widget')].map(w =>
        document.getElementById(w.getAttribute('aria-labelledby'))?.textContent.trim())""")
    assert all(names) and {"Sticky note", "Activity", "Stats"} <= set(names), names
    links = page.evaluate("() => [...document.querySelectorAll('main a')].map(a => a.textContent.trim())")
    assert all(links) and not {"⤢", "</>"} & set(links), links
    page.goto(hub.url + "/")
    expect(page.locator('a[href="/designteam"] .card-count')).to_have_text(re.compile(r"^\d+ widgets$"))
    done(page)


def test_every_widget_button_is_named_after_its_widget(setup):
    """In edit mode no two buttons share a name ("Move Sticky note up", "Remove Activity"); each bar is a toolbar."""
    hub, browser = setup
    page = log_in(browser, hub, "mizmo")
    wait_loaded(page)
    page.locator("#edit-toggle").click()
    names = page.evaluate("() => [...document.querySelectorAll('.edit-bar button')]"
                          ".map(b => b.getAttribute('aria-label'))")
    assert len(names) == len(set(names)) and "Move Sticky note up" in names and "Remove Activity" in names, names
    # Each widget's toolbar is one Tab stop; the arrow keys move within it.
    settings = page.get_by_role("button", name="Sticky note settings")
    settings.focus()
    page.keyboard.press("ArrowRight")
    assert active(page) == "Move Sticky note up"
    page.keyboard.press("End")
    assert active(page) == "Remove Sticky note"
    page.keyboard.press("Tab")
    assert page.evaluate("() => !document.activeElement.closest('.edit-bar')"), "Tab leaves the toolbar"
    page.keyboard.press("Shift+Tab")
    assert active(page) == "Remove Sticky note", "and comes back to the button used last"
    done(page)


def test_a_settings_error_marks_the_field_invalid_and_takes_the_focus(setup):
    """The dialog is named by its heading; help and error are tied to the field; the first bad field gets the focus."""
    hub, browser = setup
    page = log_in(browser, hub, "mizmo")
    wait_loaded(page)
    page.locator("#edit-toggle").click()
    page.get_by_role("button", name="Dummy settings").click()
    dialog = page.get_by_role("dialog", name="Dummy settings")
    expect(dialog).to_have_count(1)
    topic = dialog.locator("input[name=topic]")
    help_id, error_id = topic.get_attribute("aria-describedby").split()
    assert page.locator(f"#{help_id}").text_content().strip() and page.locator(f"#{error_id}").count() == 1
    topic.fill("not a topic")
    dialog.locator("button[type=submit]").click()
    expect(page.locator(f"#{error_id}")).to_contain_text("short topic")
    expect(topic).to_have_attribute("aria-invalid", "true")
    expect(topic).to_be_focused()
    page.keyboard.press("Escape")
    assert active(page) == "Dummy settings", "the focus goes back to the button that opened the dialog"
    done(page)


# ---------------------------------------------------------------------------------------------------- focus


def test_focus_stays_on_edit_hub_done_and_star(setup):
    """Edit hub, Done and Star redraw their buttons, and the keyboard's focus stays on the one that was pressed."""
    hub, browser = setup
    page = log_in(browser, hub, "mizmo")
    wait_loaded(page)
    page.locator("#edit-toggle").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#edit-toggle")).to_have_text("Done")
    assert active(page) == "edit-toggle"
    page.keyboard.press("Enter")
    expect(page.locator("#edit-toggle")).to_have_text("Edit hub")
    assert active(page) == "edit-toggle"

    star = page.locator("#action-stargazer")
    star.focus()
    page.keyboard.press("Enter")
    expect(star).to_have_attribute("aria-pressed", "true")
    expect(star).to_be_focused()
    wait_announced(page, "Starred this hub.")
    page.keyboard.press("Enter")
    expect(star).to_have_attribute("aria-pressed", "false")
    expect(star).to_be_focused()
    done(page)


def test_save_returns_the_focus_to_settings_and_says_saved(setup):
    """The toast's live region is there from page load; Save closes the dialog onto the Settings button."""
    hub, browser = setup
    page = log_in(browser, hub, "mizmo")
    expect(page.locator("#toast[role=status]")).to_have_count(1)
    expect(page.locator("#toast")).to_be_empty()
    wait_loaded(page)
    page.locator("#edit-toggle").click()
    page.get_by_role("button", name="Sticky note settings").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Sticky note settings")
    dialog.locator("textarea[name=text]").fill("Saved **from the keyboard**")
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_have_count(0)
    expect(page.locator("#toast")).to_have_text("Saved.")
    sticky = widget_idx(hub, "sticky")
    expect(page.locator(f"#widget-{sticky} strong")).to_have_text("from the keyboard")
    assert active(page) == "Sticky note settings"
    done(page)


def test_keyboard_moves_keep_the_focus_and_the_widget_in_place(setup):
    """↓ twice by keyboard: no Tab needed in between, the widget stays where the reader sees it, each move is said."""
    hub, browser = setup
    page = log_in(browser, hub, "mizmo")
    wait_loaded(page)
    page.locator("#edit-toggle").click()
    sticky = widget_idx(hub, "sticky")
    column, position = column_of(hub, sticky)
    frame = f"#widget-{sticky}"
    scroll_to(page, frame, 300)
    down = page.get_by_role("button", name="Move Sticky note down")
    down.focus()
    before = top(page, frame)
    for step in (1, 2):
        page.keyboard.press("Enter")
        page.wait_for_function("([idx, p]) => { const f = document.getElementById('widget-' + idx);"
                               " return [...f.parentNode.querySelectorAll(':scope > .widget')].indexOf(f) === p; }",
                               arg=[sticky, position + step], timeout=WAIT_MS, polling=POLL_MS)
        assert column_of(hub, sticky) == (column, position + step)
        expect(down).to_be_focused()
        assert abs(top(page, frame) - before) <= 2, "the moved widget stayed where it was on screen"
        assert page.evaluate("() => scrollY") > 0
        wait_announced(page, f"Sticky note moved: {position + step + 1}")
    page.get_by_role("button", name="Move Sticky note up").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Move Sticky note up")).to_be_focused()
    wait_announced(page, f"Sticky note moved: {position + 2}")
    done(page)


def test_remove_moves_the_focus_to_the_next_widget_and_says_so(setup):
    """After Remove (confirmed), the focus is on the widget that took its place and the removal is announced."""
    hub, browser = setup
    status, body = hub.post_json("/designteam/widgets", {"plugin": "sticky", "column": "right",
                                                         "config": {"text": "To be removed"}})
    assert status == 201, body
    added = json.loads(body)["widget"]["idx"]
    hub.post_json(f"/designteam/{added}/move", {"column": "right", "position": 0})
    below = layout(hub)["columns"]["right"][1]["idx"]
    page = log_in(browser, hub, "mizmo")
    wait_loaded(page)
    page.locator("#edit-toggle").click()
    page.once("dialog", lambda d: d.accept())
    page.locator(f"#widget-{added} [data-action=remove]").focus()
    page.keyboard.press("Enter")
    expect(page.locator(f"#widget-{added}")).to_have_count(0)
    expect(page.locator(f"#widget-{below}")).to_be_focused()
    wait_announced(page, "Sticky note removed.")
    done(page)


# ---------------------------------------------------------------------------------------------------- live updates


def test_more_pages_survive_a_live_update_without_moving_the_reader(setup):
    """"More" twice keeps the focus on it; a new item then lands on top, all loaded stay, nothing on screen moves."""
    hub, browser = setup
    feed = widget_idx(hub, "feed")
    page = visit(browser, hub, "/designteam")
    wait_loaded(page)
    wait_live(page)
    items = page.locator(f"#widget-{feed} .feed-item")
    more = page.locator(f"#widget-{feed} .feed-more")
    shown = items.count()
    more.focus()
    for _ in range(2):
        count = items.count()
        page.keyboard.press("Enter")
        page.wait_for_function("([s, n]) => document.querySelectorAll(s).length > n",
                               arg=[f"#widget-{feed} .feed-item", count], timeout=WAIT_MS, polling=POLL_MS)
        expect(more).to_be_focused()
        expect(more).to_have_text("More activity")
    loaded = items.count()
    assert loaded >= 3 * shown - 2, (shown, loaded)
    keys = items.evaluate_all("els => els.map(e => e.dataset.key)")
    reading = items.nth(len(keys) - 3)  # an item of the last page loaded
    reading.evaluate("e => window.scrollBy(0, e.getBoundingClientRect().top - 300)")
    expect(more).to_be_focused()
    before, scrolled = item_top(page, keys[-3]), page.evaluate("() => scrollY")

    publish_activity(hub, "mizmo", 4242, "Keyboard users keep their place")
    page.wait_for_function("([s, n]) => document.querySelectorAll(s).length > n",
                           arg=[f"#widget-{feed} .feed-item", loaded], timeout=WAIT_MS, polling=POLL_MS)
    after = items.evaluate_all("els => els.map(e => e.dataset.key)")
    assert after[len(after) - len(keys):] == keys, "every item shown before is still there, in order"
    assert "Keyboard users keep their place" in items.first.text_content()
    assert abs(item_top(page, keys[-3]) - before) <= 2, "what the reader was reading did not move on screen"
    assert page.evaluate("() => scrollY") > scrolled
    wait_announced(page, "Activity: 1 new item.")
    expect(more).to_be_focused()  # the widget being read was updated, not replaced under the reader
    done(page)


def test_a_live_edit_is_announced_politely_and_leaves_the_reader_alone(setup):
    """Another viewer's page says "Sticky note updated." in its polite region; the focused link keeps the focus."""
    hub, browser = setup
    sticky, about = widget_idx(hub, "sticky"), widget_idx(hub, "about")
    page = visit(browser, hub, "/designteam")
    wait_loaded(page)
    wait_live(page)
    expect(page.locator("#announcer[aria-live=polite]")).to_have_count(1)
    link = page.locator(f"#widget-{about} .prose a").first
    link.focus()
    status, body = hub.post_json(f"/designteam/{sticky}/config", {"text": "Told to **everyone**"})
    assert status == 200, body
    expect(page.locator(f"#widget-{sticky} strong")).to_have_text("everyone")
    wait_announced(page, "Sticky note updated.")
    expect(link).to_be_focused()
    done(page)


def test_a_frozen_hub_turns_live_to_reconnecting_within_one_keepalive(setup):
    """With the hub stopped (SIGSTOP) the pill says "Reconnecting…" once a keep-alive is missed, and every widget
    says it may be out of date; the page passes axe-core then (phone: the state is text, not only colour)."""
    hub, browser = setup
    page = visit(browser, hub, "/designteam", "phone")
    wait_loaded(page)
    wait_live(page)
    page.wait_for_function("() => window.hubsPage.keepalive() > 0", timeout=WAIT_MS, polling=POLL_MS)
    assert page.evaluate("() => window.hubsPage.keepalive()") == KEEPALIVE
    expect(page.locator("#live .live-text")).to_be_visible()
    widgets = page.locator("#hub .widget").count()
    hub.proc.send_signal(signal.SIGSTOP)
    frozen = time.monotonic()
    try:
        page.wait_for_function(JS_LIVE_IN, arg=["reconnecting"], timeout=int((KEEPALIVE + GRACE + 5) * 1000),
                               polling=POLL_MS)
        took = time.monotonic() - frozen
        assert took <= KEEPALIVE + GRACE + 1.0, f"'Reconnecting…' came {took:.1f}s after the hub froze"
        expect(page.locator("#live .live-text")).to_have_text("Reconnecting…")
        expect(page.locator("#live .live-text")).to_be_visible()
        expect(page.locator("#stale-notice")).to_be_visible()
        expect(page.locator(".widget .stale-mark")).to_have_count(widgets)
        wait_announced(page, "Connection lost")
        assert_no_axe_violations(page, "a page whose hub stopped answering (phone)")
    finally:
        hub.proc.send_signal(signal.SIGCONT)
    wait_live(page)
    expect(page.locator(".widget .stale-mark")).to_have_count(0)
    expect(page.locator("#stale-notice")).to_be_hidden()
    wait_announced(page, "Reconnected")
    done(page)


# ---------------------------------------------------------------------------------------------------- drag and drop


def test_drag_and_drop_moves_a_widget_across_columns(setup):
    """Dragging a widget's handle into the other column shows a drop indicator and sends the same move request."""
    hub, browser = setup
    about = widget_idx(hub, "about")
    right = layout(hub)["columns"]["right"]
    assert len(right) >= 2
    viewer = visit(browser, hub, "/designteam")
    page = log_in(browser, hub, "mizmo")
    wait_loaded(page)
    page.locator("#edit-toggle").click()
    requests = []
    page.on("request", lambda r: requests.append(json.loads(r.post_data)) if r.url.endswith("/move") else None)

    handle = page.locator(f"#widget-{about} .drag-handle")
    target = page.locator(f"#widget-{right[1]['idx']}")  # the top half of the second: dropped between 1st and 2nd
    handle.hover()
    box = target.bounding_box()
    page.mouse.down()
    x, y = box["x"] + box["width"] / 2, box["y"] + 10
    page.mouse.move(x, y, steps=5)
    for nudge in (1, 2):  # a hand never holds still: Chromium sends dragover as the pointer moves
        page.wait_for_timeout(60)
        page.mouse.move(x + nudge, y)
    expect(page.locator("[data-column=right] .drop-indicator")).to_have_count(1)
    page.mouse.up()
    expect(page.locator(".drop-indicator")).to_have_count(0)
    page.wait_for_function("idx => document.getElementById('widget-' + idx).parentNode.dataset.column === 'right'",
                           arg=about, timeout=WAIT_MS, polling=POLL_MS)
    assert column_of(hub, about) == ("right", 1)
    assert requests and set(requests[-1]) == {"column", "position", "version"}, requests
    assert requests[-1]["column"] == "right" and requests[-1]["position"] == 1
    expect(viewer.locator(f"[data-column=right] #widget-{about}")).to_have_count(1)

    # Playwright's drag_to (HTML5 drag and drop) back to the top of the left column.
    first_left = layout(hub)["columns"]["left"][0]["idx"]
    page.evaluate("() => window.scrollTo(0, 0)")  # drag_to presses on the source, then scrolls to the target
    handle.drag_to(page.locator(f"#widget-{first_left}"), target_position={"x": 20, "y": 5})
    page.wait_for_function("idx => document.getElementById('widget-' + idx).parentNode.dataset.column === 'left'",
                           arg=about, timeout=WAIT_MS, polling=POLL_MS)
    assert column_of(hub, about) == ("left", 0)
    keyboard = {k: v for k, v in requests[-1].items()}
    page.get_by_role("button", name="Move About down").click()
    expect(page.get_by_role("button", name="Move About up")).not_to_have_attribute("aria-disabled", "true")
    assert set(requests[-1]) == set(keyboard), "the buttons send the same request as a drop"
    done(viewer)
    done(page)


def test_reduced_motion_stops_the_spinner_and_the_pulse(setup):
    """With prefers-reduced-motion the spinner and the pulsing dot stand still."""
    hub, browser = setup
    context = browser.new_context(reduced_motion="reduce")
    page = context.new_page()
    held = []
    page.route("**/designteam/*/json", lambda route: held.append(route))
    page.route("**/designteam/events*", lambda route: held.append(route))
    page.goto(hub.url + "/designteam")
    expect(page.locator(".spinner").first).to_be_visible()
    names = page.evaluate("""() => [getComputedStyle(document.querySelector('.spinner')).animationName,
                                    getComputedStyle(document.querySelector('#live .dot')).animationName]""")
    assert names == ["none", "none"], names
    context.close()


def test_touch_targets_are_24px_at_least_on_a_phone(setup):
    """Every button and the widget links of a phone's edit mode are at least 24 px high."""
    hub, browser = setup
    page = log_in(browser, hub, "mizmo", viewport="phone")
    wait_loaded(page)
    page.locator("#edit-toggle").click()
    small = page.evaluate("""() => [...document.querySelectorAll('button, .panel-link, .topbar a, .chips a, .people a')]
        .filter(e => e.offsetParent !== null)
        .map(e => [e.getAttribute('aria-label') || e.textContent.trim(), e.getBoundingClientRect().height])
        .filter(([, h]) => h < 24)""")
    assert small == [], small
    done(page)

