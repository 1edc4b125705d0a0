"""In real Chromium against a real hub (demo data, PostgreSQL, memcached, the login provider): "My stream".

A demo person's stream is full on first open and every item says why; reading in one tab drops the header's count
in the person's other tabs (a hub page and a page without a hub); done, save, snooze and mute (with undo) work; the
keyboard works and never steals keys while typing; a new bus message shows at the top without a reload; the page
is axe-clean (desktop and phone, every state) and fits a phone.

One hub and one login provider for the module; every test opens its own browser contexts.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from hubs.demo.messages import pagure_issue_new
from tests.conftest import OIDCProvider, need_service, services_settings
from tests.hubproc import HubProcess, free_port
from tests.test_browser_a11y import ARGS, AXE, CHROMIUM, VIEWPORTS, assert_no_axe_violations

pytestmark = pytest.mark.e2e

WAIT_MS = 15_000
POLL_MS = 50
KEEPALIVE = 3.0
expect.set_options(timeout=WAIT_MS)

CARDS = ".stream-list > .stream-item, .stream-list .group-items > .stream-item"
FIRST_CARD = ".stream-list > .stream-item"
JS_ACTIVE_ID = "() => document.activeElement && document.activeElement.id"


@pytest.fixture(scope="module")
def setup(tmp_path_factory, demo_db, memcached_servers, canned_services_process):
    if not Path(CHROMIUM).exists():
        need_service("Chromium", f"{CHROMIUM} is missing (make test installs it)")
    if not AXE.exists():
        need_service("axe-core", "run `npm ci --prefix tests/axe` (make test does it)")
    servers = ",".join(f"{h}:{p}" for h, p in memcached_servers)
    settings = {**services_settings(canned_services_process), "hubs.sse.keepalive": KEEPALIVE}
    hub = HubProcess(tmp_path_factory.mktemp("stream-hub"), demo_db, servers, extra=settings)
    provider = OIDCProvider(free_port(), hub.url + "/oidc/callback")
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


def watch(page: Page) -> Page:
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


def log_in(browser, hub: HubProcess, username: str, viewport: str = "desktop") -> Page:
    """A new context signed in as ``username``: /stream sends an anonymous visitor to log in, then back."""
    page = watch(browser.new_context(viewport=VIEWPORTS[viewport]).new_page())
    page.goto(hub.url + "/stream")
    page.locator("input[name=login]").fill(username)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    consent = page.locator("button[type=submit]", has_text="Continue")
    if consent.count():
        consent.click()
    page.wait_for_url(hub.url + "/stream")
    wait_drawn(page)
    return page


def another_tab(page: Page, hub: HubProcess, path: str) -> Page:
    """The same person's page in another tab (same cookies)."""
    tab = watch(page.context.new_page())
    tab.goto(hub.url + path)
    return tab


def wait_drawn(page: Page) -> None:
    page.wait_for_function("() => document.querySelector('#stream').getAttribute('aria-busy') === null",
                           timeout=WAIT_MS, polling=POLL_MS)


def unread_badge(page: Page) -> int:
    """The header's unread count (its data attribute, as the badge shows it)."""
    expect(page.locator("#stream-count")).to_be_visible()
    return int(page.locator("#stream-count").get_attribute("data-unread"))


def wait_badge(page: Page, n: int) -> None:
    expect(page.locator("#stream-count")).to_have_attribute("data-unread", str(n))


def first_unread(page: Page):
    return page.locator(FIRST_CARD + ".unread").first


def done(page: Page) -> None:
    errors = page.errors
    page.context.close()
    assert errors == [], errors


def announced(page: Page, fragment: str) -> None:
    page.wait_for_function("f => window.streamPage.announcements.some(a => a.includes(f))", arg=fragment,
                           timeout=WAIT_MS, polling=POLL_MS)


# ---------------------------------------------------------------------------------------------------- the stream


def test_a_demo_persons_stream_is_full_on_first_open_and_every_item_says_why(setup):
    """ralph's stream shows items at once; each card has a reason in words, a time with the exact one on hover."""
    hub, browser = setup
    page = log_in(browser, hub, "ralph")
    cards = page.locator(CARDS)
    assert cards.count() >= 5, "the demo gives ralph a full stream"
    reasons = page.evaluate(f"""() => [...document.querySelectorAll({json.dumps(CARDS)})].map(c =>
        [...c.querySelectorAll('.reason-chip')].map(r => r.textContent.trim()))""")
    assert all(r and all(reasons_ for reasons_ in r) for r in reasons), reasons
    assert any(t.startswith("because ") or t == "you were mentioned" for r in reasons for t in r), reasons
    time_ = page.locator(FIRST_CARD + " time").first
    assert re.search(r"ago|just now|yesterday|\d", time_.text_content())
    assert time_.get_attribute("title"), "the exact time is in the title"
    expect(page.locator('.stream-tabs a[aria-current="page"]')).to_have_text(re.compile("^Everything"))
    assert unread_badge(page) >= 1
    expect(page.locator("#live")).to_have_class(re.compile("live-live"))
    # "Load more" brings the next page below; the pages loaded stay.
    shown = page.evaluate("() => window.streamPage.items().length")
    more = page.get_by_role("button", name="Load more")
    more.click()
    page.wait_for_function("n => window.streamPage.items().length > n", arg=shown)
    announced(page, "older item")
    done(page)


def test_reading_in_one_tab_drops_the_count_in_the_persons_other_tabs(setup):
    """Mark read on /stream: the header of a hub page (its own stream) and of / (counts only) follow."""
    hub, browser = setup
    page = log_in(browser, hub, "ralph")
    hub_tab = another_tab(page, hub, "/designteam")
    home_tab = another_tab(page, hub, "/")
    before = unread_badge(page)
    wait_badge(hub_tab, before)
    wait_badge(home_tab, before)
    card = first_unread(page)
    card.get_by_role("button", name="Mark read").click()
    wait_badge(page, before - 1)
    wait_badge(hub_tab, before - 1)
    wait_badge(home_tab, before - 1)
    expect(hub_tab.locator("#stream-count")).to_have_attribute("href", "/stream")
    # Back to unread in another /stream tab: the first tab's card follows (a stream-change).
    second = another_tab(page, hub, "/stream")
    wait_drawn(second)
    item_id = page.evaluate("() => window.streamPage.items().find(i => !i.unread).id")
    second.locator(f"#item-{item_id}").get_by_role("button", name="Mark unread").click()
    expect(page.locator(f"#item-{item_id}")).to_have_class(re.compile(r"\bunread\b"))
    wait_badge(hub_tab, before)
    for tab in (second, hub_tab, home_tab):
        assert tab.errors == [], tab.errors
    done(page)


def test_done_save_snooze_and_mute_with_undo(setup):
    """Done moves an item to Done (undo brings it back); Saved keeps saved ones; snoozed and muted items leave."""
    hub, browser = setup
    page = log_in(browser, hub, "ralph")
    first = page.locator(FIRST_CARD).first
    item_id = first.get_attribute("data-id")
    first.get_by_role("button", name="Done", exact=True).click()
    expect(page.locator(f"#item-{item_id}")).to_have_count(0)
    expect(page.locator("#undo")).to_be_visible()
    page.locator("#undo-button").click()
    expect(page.locator(f"#item-{item_id}")).to_have_count(1)

    card = page.locator(f"#item-{item_id}")
    card.get_by_role("button", name="Done", exact=True).click()
    page.locator('.stream-tabs a[data-view="done"]').click()
    expect(page.locator(f"#item-{item_id}")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"view=done"))
    page.locator(f"#item-{item_id}").get_by_role("button", name="Not done").click()
    expect(page.locator(f"#item-{item_id}")).to_have_count(0)
    page.locator('.stream-tabs a[data-view="everything"]').click()
    wait_drawn(page)

    card = page.locator(FIRST_CARD).first
    saved_id = card.get_attribute("data-id")
    card.get_by_role("button", name="Save").click()
    expect(card.get_by_role("button", name="Saved")).to_have_attribute("aria-pressed", "true")
    page.locator('.stream-tabs a[data-view="saved"]').click()
    expect(page.locator(f"#item-{saved_id}")).to_have_count(1)
    page.locator('.stream-tabs a[data-view="everything"]').click()
    wait_drawn(page)

    card = page.locator(FIRST_CARD).first
    snoozed_id = card.get_attribute("data-id")
    card.locator("summary", has_text="Snooze").click()
    with page.expect_response(lambda r: r.url.endswith("/api/stream/items") and r.request.method == "POST") as told:
        card.get_by_role("button", name="For 1 hour").click()
    expect(page.locator(f"#item-{snoozed_id}")).to_have_count(0)
    assert told.value.status == 200  # the card leaves at once; a reload shows what the server kept
    page.reload()
    wait_drawn(page)
    expect(page.locator(f"#item-{snoozed_id}")).to_have_count(0)

    card = page.locator(FIRST_CARD).first
    agent = page.evaluate("id => window.streamPage.items().find(i => i.id === id).message.agent",
                          int(card.get_attribute("data-id")))
    shown = page.evaluate("a => window.streamPage.items().filter(i => i.message.agent === a).length", agent)
    card.locator("summary", has_text="More").click()
    card.get_by_role("button", name=f"Mute {agent} (person)").click()
    page.wait_for_function("a => !window.streamPage.items().some(i => i.message.agent === a)", arg=agent)
    expect(page.locator("#undo-text")).to_contain_text(f"Muted person {agent}")
    page.locator("#undo-button").click()
    page.wait_for_function("([a, n]) => window.streamPage.items().filter(i => i.message.agent === a).length === n",
                           arg=[agent, shown])
    done(page)


def test_a_reason_chip_filters_and_the_filter_is_a_url(setup):
    """A reason chip narrows the stream to that reason; the bar says it is filtered; the URL reopens it."""
    hub, browser = setup
    page = log_in(browser, hub, "ralph")
    chip = page.locator(FIRST_CARD + " .reason-chip").first
    kind = chip.get_attribute("data-reason")
    chip.click()
    expect(page).to_have_url(re.compile(rf"reason={re.escape(kind)}"))
    expect(page.locator("#filter-bar")).to_be_visible()
    expect(page.locator("#filter-bar")).to_contain_text("This stream is filtered")
    wait_drawn(page)
    kinds = page.evaluate("() => window.streamPage.items().map(i => i.reasons.map(r => r.kind))")
    assert kinds and all(kind in k for k in kinds), kinds
    url = page.url
    page.locator("#save-filter-name").evaluate("e => e.closest('details').open = true")
    page.locator("#save-filter-name").fill("Only " + kind)
    page.locator("#save-filter button[type=submit]").click()
    link = page.locator(".saved-filter-link", has_text="Only " + kind)
    expect(link).to_have_count(1)
    assert url.endswith(link.get_attribute("href")), (url, link.get_attribute("href"))
    page.get_by_role("button", name="Make an Atom feed of Only " + kind).click()
    feed = page.get_by_role("link", name="Atom feed of Only " + kind)
    expect(feed).to_have_count(1)
    status, body, _ = hub.get(feed.get_attribute("href"))
    assert status == 200 and b"<feed" in body
    page.locator("#clear-filters").click()
    expect(page.locator("#filter-bar")).to_be_hidden()
    done(page)


def test_a_new_message_shows_at_the_top_without_a_reload(setup):
    """mizmo (whom ralph follows) files a ticket: ralph's open stream shows it first, and says so politely."""
    hub, browser = setup
    page = log_in(browser, hub, "ralph")
    expect(page.locator("#live")).to_have_class(re.compile("live-live"))
    before = unread_badge(page)
    title = f"Stream page test {time.time_ns()}"
    envelope = pagure_issue_new("mizmo", "design", 4242, title)
    hub.publish_raw([[envelope["topic"].encode(), json.dumps(envelope).encode()]])
    expect(page.locator(".stream-list > li").first).to_contain_text("mizmo")
    announced(page, "new item")
    assert unread_badge(page) >= before + 1
    page.wait_for_function("() => document.querySelector('.stream-list > li .reason-chip')")
    done(page)


# ---------------------------------------------------------------------------------------------------- keyboard


def test_the_keyboard_moves_selects_and_triages_and_never_steals_keys_while_typing(setup):
    """j/k move, x selects, s saves, u toggles unread, e marks done (the focus goes on), / searches, ? helps."""
    hub, browser = setup
    page = log_in(browser, hub, "ralph")
    page.locator("#main").focus()
    page.keyboard.press("j")
    first_id = page.evaluate(JS_ACTIVE_ID)
    assert first_id and first_id.startswith(("item-", "")), first_id
    page.keyboard.press("j")
    second_id = page.evaluate(JS_ACTIVE_ID)
    page.keyboard.press("k")
    assert page.evaluate(JS_ACTIVE_ID) == first_id
    page.keyboard.press("j")
    assert page.evaluate(JS_ACTIVE_ID) == second_id
    if not second_id.startswith("item-"):  # a group: open it and go into it
        page.keyboard.press("Enter")
        page.keyboard.press("j")
        second_id = page.evaluate(JS_ACTIVE_ID)
    card = page.locator(f"#{second_id}")
    page.keyboard.press("x")
    expect(card.locator(".select")).to_be_checked()
    page.keyboard.press("x")
    expect(card.locator(".select")).not_to_be_checked()
    card.locator(".select").focus()  # a check box takes no typing: the keys still work there
    page.keyboard.press("k")
    assert page.evaluate(JS_ACTIVE_ID) != second_id
    page.keyboard.press("j")
    assert page.evaluate(JS_ACTIVE_ID) == second_id
    page.keyboard.press("s")
    expect(card.locator('[data-act="save"]')).to_have_attribute("aria-pressed", "true")
    was_unread = "unread" in (card.get_attribute("class") or "").split()
    page.keyboard.press("u")
    expect(card).to_have_class(re.compile(r"\bunread\b") if not was_unread else re.compile(r"^(?!.*\bunread\b)"))
    page.keyboard.press("e")
    expect(page.locator(f"#{second_id}")).to_have_count(0)
    assert page.evaluate("() => !!document.activeElement.closest('.row')"), "the focus goes to the next item"

    page.keyboard.press("/")
    expect(page.locator("#stream-q")).to_be_focused()
    page.keyboard.type("jk?xe")
    expect(page.locator("#stream-q")).to_have_value("jk?xe")
    expect(page.locator("#key-help")).not_to_have_attribute("open", "")
    page.locator("#stream-q").fill("")
    page.locator("#main").focus()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Mark done")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    done(page)


# ---------------------------------------------------------------------------------------------------- a11y, phone


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_stream_page_has_no_axe_violation_in_any_state(setup, viewport):
    """The list, a card's menu, the filters panel, a filtered and an empty view, the keys dialog, the undo bar,
    and the header count on a hub page and on /."""
    hub, browser = setup
    page = log_in(browser, hub, "ralph", viewport)
    assert_no_axe_violations(page, f"the stream ({viewport})")
    card = page.locator(FIRST_CARD).first
    card.locator("summary", has_text="Snooze").click()
    assert_no_axe_violations(page, f"a card's snooze menu ({viewport})")
    page.keyboard.press("Escape")
    page.locator("#filters-panel summary").click()
    assert_no_axe_violations(page, f"the filters panel ({viewport})")
    page.locator("#filter-value").fill("no-such-package-anywhere")
    page.locator("#filter-kind").select_option("package")
    page.locator("#filter-form button[type=submit]").click()
    expect(page.locator(".stream-empty")).to_contain_text("matches this filter")
    assert_no_axe_violations(page, f"an empty filtered view ({viewport})")
    page.locator("#clear-filters").click()
    wait_drawn(page)
    page.locator(FIRST_CARD).first.focus()
    page.keyboard.press("e")
    expect(page.locator("#undo")).to_be_visible()
    assert_no_axe_violations(page, f"the undo bar ({viewport})")
    page.keyboard.press("?")
    assert_no_axe_violations(page, f"the keys dialog ({viewport})")
    page.keyboard.press("Escape")
    for path in ("/designteam", "/"):
        page.goto(hub.url + path)
        expect(page.locator("#stream-count")).to_be_visible()
        assert_no_axe_violations(page, f"{path} with the header count ({viewport})")
    done(page)


def test_the_stream_fits_a_phone(setup):
    """At 390 px nothing scrolls sideways, the count shows in the header, and the actions are reachable."""
    hub, browser = setup
    page = log_in(browser, hub, "ralph", "phone")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), "no sideways scrolling"
    expect(page.locator("#stream-count .stream-count-n")).to_be_visible()
    card = page.locator(FIRST_CARD).first
    box = card.get_by_role("button", name="Done", exact=True).bounding_box()
    assert box and box["x"] + box["width"] <= 390 and box["height"] >= 24, box
    done(page)


def test_an_anonymous_visitor_gets_no_count_and_is_sent_to_log_in(setup):
    """No badge for anonymous visitors; /stream sends them to log in."""
    hub, browser = setup
    page = watch(browser.new_context().new_page())
    page.goto(hub.url + "/designteam")
    page.wait_for_function("() => document.getElementById('account')")
    expect(page.locator("#stream-count")).to_be_hidden()
    page.goto(hub.url + "/stream")
    expect(page.locator("input[name=login]")).to_be_visible()
    done(page)
