"""In real Chromium: the list of hubs, a page at a time.

"More hubs" loads the next page in place (the focus goes to the first new hub, one polite sentence says how
many came), says so while it loads, says in words when it fails and can be tried again, and is a plain link
without JavaScript. axe-core finds nothing in any of these states. The demo's hubs, two to a page (``limit=2``).
"""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.test_browser_a11y import VIEWPORTS, active, assert_no_axe_violations, done, visit
from tests.test_browser_a11y import setup as a11y_setup  # noqa: F401 (the fixture ``setup``: one hub, one browser)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site(request):
    """The accessibility tests' hub (the demo data, a login provider) and browser, for this module."""
    return request.getfixturevalue("a11y_setup")


def every_hub(hub) -> list[str]:
    return [h["name"] for h in json.loads(hub.get("/api/hubs?limit=100")[1])["hubs"]]


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_more_hubs_loads_every_page_in_place_keeping_the_reader_s_place(site, viewport):
    """Keyboard: Enter on "More hubs" adds the next hubs below, focuses the first, says how many; to the end."""
    hub, browser = site
    expected = every_hub(hub)
    assert len(expected) > 4
    page = visit(browser, hub, "/?limit=2", viewport)
    cards = page.locator("#hub-cards > li a")
    expect(cards).to_have_count(2)
    assert_no_axe_violations(page, f"the first page of hubs ({viewport})")
    shown = 2
    while page.locator("#more-hubs").count():
        page.locator("#more-hubs").focus()
        page.keyboard.press("Enter")
        expect(cards).not_to_have_count(shown)
        added = cards.count() - shown
        assert cards.nth(shown).evaluate("e => e === document.activeElement"), active(page)
        expect(page.locator("#announcer")).to_contain_text(f"{added} more hub")
        shown += added
    expect(page.locator("#announcer")).to_contain_text("That is all of them.")
    names = page.locator("#hub-cards > li a strong").all_inner_texts()
    assert names == expected  # each hub once, in the API's order
    assert page.url.endswith("/?limit=2")  # loaded in place: no navigation
    assert_no_axe_violations(page, f"every page of hubs loaded ({viewport})")
    done(page)


def test_more_hubs_spins_while_loading_and_says_a_failure_in_words(site):
    """While the next page loads the link says so (aria-busy); a failed load is said beside it, and it retries."""
    hub, browser = site
    page = visit(browser, hub, "/?limit=2")
    held = []
    page.route("**/api/hubs?*", lambda route: held.append(route))  # not answered yet
    page.locator("#more-hubs").click()
    more = page.locator("#more-hubs")
    expect(more).to_have_attribute("aria-busy", "true")
    expect(more).to_contain_text("Loading more hubs")
    expect(more.locator(".spinner")).to_have_attribute("aria-hidden", "true")
    assert_no_axe_violations(page, "the list of hubs while More hubs loads")
    held.pop().fulfill(status=400, content_type="application/json",
                       body=json.dumps({"error": "The cursor is damaged (cut short or changed?)."}))
    expect(page.locator("#more-status")).to_contain_text(
        "The next hubs could not be loaded: The cursor is damaged (cut short or changed?).")
    expect(more).to_have_text("More hubs")
    expect(page.locator("#hub-cards > li")).to_have_count(2)
    assert_no_axe_violations(page, "the list of hubs after a failed load")
    page.unroute("**/api/hubs?*")
    page.route("**/api/hubs?*", lambda route: route.abort())  # the connection fails
    more.click()
    expect(page.locator("#more-status")).to_contain_text("Hubs cannot be reached; check the connection.")
    page.unroute("**/api/hubs?*")
    more.click()  # and again, with Hubs answering
    expect(page.locator("#hub-cards > li")).to_have_count(4)
    expect(page.locator("#more-status")).to_have_text("")
    done(page)


def test_without_javascript_more_hubs_is_a_link_to_the_next_page(site):
    """No script: "More hubs" goes to /?…cursor=…, which shows the next hubs and a way back to the first page."""
    hub, browser = site
    expected = every_hub(hub)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(hub.url + "/?limit=2")
    seen = page.locator("#hub-cards > li a strong").all_inner_texts()
    while page.locator("#more-hubs").count():
        page.locator("#more-hubs").click()
        page.wait_for_load_state()
        assert "cursor=" in page.url
        expect(page.get_by_role("link", name="Back to the first page")).to_have_count(1)
        seen += page.locator("#hub-cards > li a strong").all_inner_texts()
    assert seen == expected
    context.close()


def test_filtering_by_name_and_kind_from_the_page(site):
    """The page's filter form: words and a kind narrow the list; nothing found is said."""
    hub, browser = site
    page = visit(browser, hub, "/")
    page.get_by_label("Name or summary").fill("design")
    page.get_by_label("Show").select_option("team")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#list-hubs")).to_have_text("Hubs matching “design”")
    assert "designteam" in page.locator("#hub-cards > li a strong").all_inner_texts()
    assert_no_axe_violations(page, "the list of hubs, filtered")
    page.goto(hub.url + "/?q=nothing-like-this")
    expect(page.locator("main")).to_contain_text("No hub matches.")
    assert_no_axe_violations(page, "the list of hubs, nothing found")
    done(page)
