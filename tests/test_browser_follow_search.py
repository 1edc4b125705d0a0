"""In real Chromium against a real hub (demo data, PostgreSQL, memcached, the login provider): following from a hub
page, and searching inside the Activity widget.

Follow: a signed-in visitor follows a team hub or a person's hub from its header with a real toggle button (state
read from the server, busy while its request runs, focus kept, keyboard, error said beside it); no button on one's own
hub; "Log in to follow" for an anonymous visitor. Search: typing in the Activity widget searches its people's messages
through /api/search (one request for a burst of keys), matches highlighted and never run as HTML, "no messages match",
errors in the widget's frame, live updates do not wipe the results, clearing goes back to the live feed. axe-core
finds nothing in any of these states.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from tests.test_browser_a11y import (
    POLL_MS,
    WAIT_MS,
    assert_no_axe_violations,
    done,
    log_in,
    publish_activity,
    setup,  # noqa: F401  (the module's hub, login provider and browser)
    visit,
    wait_announced,
    wait_live,
    wait_loaded,
    widget_idx,
)

pytestmark = pytest.mark.e2e

FOLLOW = "#follow-toggle"


def wait_follow_state(page: Page, state: str) -> None:
    """Wait until the button knows its state from the server ("following" / "not-following")."""
    expect(page.locator("#hub-follow")).to_have_attribute("data-state", state)


def follows(page: Page) -> list[dict]:
    """The signed-in person's follows, as the server has them."""
    return page.evaluate("() => fetch('/api/follows').then(r => r.json()).then(b => b.follows)")


def hold(page: Page, pattern: str, method: str = "POST") -> list:
    """Requests of ``method`` to ``pattern`` are held (not answered) until the test lets them go."""
    held: list = []

    def catch(route):
        if route.request.method == method:
            held.append(route)
        else:
            route.continue_()

    page.route(pattern, catch)
    return held


# ---------------------------------------------------------------------------------------------------- follow


def test_a_visitor_follows_and_unfollows_a_team_hub_from_its_header(setup):  # noqa: F811
    """Follow → busy (focus stays) → "Following ✓" pressed; the server has it; a reload shows it; Enter undoes it."""
    hub, browser = setup
    page = log_in(browser, hub, "nirik")
    wait_loaded(page)
    button = page.locator(FOLLOW)
    wait_follow_state(page, "not-following")
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(button).to_have_accessible_name(re.compile(r"^Follow\s+designteam$"))
    assert {"kind": "hub", "name": "designteam"} not in follows(page)

    held = hold(page, "**/api/follows")
    button.focus()
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-disabled", "true")
    expect(button).to_have_attribute("aria-busy", "true")
    expect(button.locator(".spinner")).to_be_visible()
    page.keyboard.press("Enter")  # a second press while busy sends nothing more
    page.wait_for_timeout(200)
    assert len(held) == 1, "one request while the first is pending"
    held[0].continue_()
    page.unroute("**/api/follows")
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(button).to_have_text(re.compile(r"^Following ✓"))
    expect(button).to_have_accessible_name(re.compile(r"^Following\s+designteam$"))
    expect(button).not_to_have_attribute("aria-disabled", "true")
    expect(button).to_be_focused()
    page.wait_for_function("f => window.hubsFollow.said.some(s => s.includes(f))",
                           arg="You follow the designteam hub", timeout=WAIT_MS, polling=POLL_MS)
    assert {"kind": "hub", "name": "designteam"} in follows(page)
    assert_no_axe_violations(page, "a hub page whose visitor follows it")

    page.reload()
    wait_follow_state(page, "following")  # learnt from the server, not remembered
    expect(page.locator(FOLLOW)).to_have_attribute("aria-pressed", "true")
    page.locator(FOLLOW).focus()
    page.keyboard.press("Space")
    expect(page.locator(FOLLOW)).to_have_attribute("aria-pressed", "false")
    expect(page.locator(FOLLOW)).to_have_text("Follow designteam")  # its whom is visually hidden text
    assert {"kind": "hub", "name": "designteam"} not in follows(page)
    done(page)


def test_a_persons_hub_follows_the_person_but_not_on_ones_own_hub(setup):  # noqa: F811
    """On /ralph nirik follows the person ralph; ralph on his own hub gets no button; one already followed shows it."""
    hub, browser = setup
    page = log_in(browser, hub, "nirik", path="/ralph")
    button = page.locator(FOLLOW)
    wait_follow_state(page, "not-following")
    button.click()
    expect(button).to_have_attribute("aria-pressed", "true")
    assert {"kind": "person", "name": "ralph"} in follows(page)
    button.click()
    expect(button).to_have_attribute("aria-pressed", "false")
    done(page)

    page = log_in(browser, hub, "ralph", path="/ralph")
    wait_loaded(page)
    expect(page.locator("#hub-follow")).to_be_hidden()
    expect(page.locator(FOLLOW)).to_have_count(0)
    page.goto(hub.url + "/designteam")  # ralph follows designteam in the demo data
    wait_follow_state(page, "following")
    expect(page.locator(FOLLOW)).to_have_attribute("aria-pressed", "true")
    done(page)


def test_an_anonymous_visitor_is_asked_to_log_in_to_follow(setup):  # noqa: F811
    """No button, a link that logs in and comes back to the hub."""
    hub, browser = setup
    page = visit(browser, hub, "/designteam")
    link = page.get_by_role("link", name="Log in to follow designteam")
    expect(link).to_have_attribute("href", "/login?next=%2Fdesignteam")
    expect(page.locator(FOLLOW)).to_have_count(0)
    done(page)


def test_a_failed_follow_is_said_beside_the_button_and_changes_nothing(setup):  # noqa: F811
    """The server's words appear next to the button (its description); the state stays; the focus stays."""
    hub, browser = setup
    page = log_in(browser, hub, "kevin")
    wait_loaded(page)
    button = page.locator(FOLLOW)
    wait_follow_state(page, "not-following")
    page.route("**/api/follows", lambda route: route.fulfill(
        status=503, content_type="application/json", body=json.dumps({"error": "The store is not answering."}))
        if route.request.method == "POST" else route.continue_())
    button.focus()
    page.keyboard.press("Enter")
    error = page.locator("#hub-follow-error")
    expect(error).to_have_text("Could not follow designteam: The store is not answering.")
    expect(button).to_have_attribute("aria-pressed", "false")
    expect(button).to_have_accessible_description("Could not follow designteam: The store is not answering.")
    expect(button).to_be_focused()
    assert_no_axe_violations(page, "a hub page after a failed follow")
    page.unroute("**/api/follows")
    page.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-pressed", "true")
    expect(error).to_have_text("")
    button.click()
    expect(button).to_have_attribute("aria-pressed", "false")
    done(page)


# ---------------------------------------------------------------------------------------------------- search


def searches(page: Page) -> list[str]:
    """Every /api/search URL the page asks from now on."""
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/search?" in r.url else None)
    return asked


def test_typing_searches_the_activity_highlights_and_clears_back_to_the_live_feed(setup):  # noqa: F811
    """A burst of keys is one request of hub=designteam; the match is marked; the live feed hides, then comes back."""
    hub, browser = setup
    feed = widget_idx(hub, "feed")
    frame = f"#widget-{feed}"
    publish_activity(hub, "mizmo", 7101, "Zanzibar mockups for the wallpaper")
    page = visit(browser, hub, "/designteam")
    wait_loaded(page)
    wait_live(page)
    expect(page.locator(f"{frame} ul.feed")).to_contain_text("Zanzibar mockups")
    box = page.get_by_role("searchbox", name="Search the activity of designteam")
    asked = searches(page)
    box.click()
    page.keyboard.type("zanzibar", delay=40)
    results = page.locator(f"{frame} .feed-results .feed-item")
    expect(results).to_have_count(1)
    expect(results.first.locator("mark")).to_have_text("Zanzibar")
    expect(page.locator(f"{frame} .feed-search-said")).to_have_text("1 message matches \u201czanzibar\u201d.")
    expect(page.locator(f"{frame} ul.feed")).to_be_hidden()
    assert len(asked) == 1 and "q=zanzibar" in asked[0] and "hub=designteam" in asked[0], asked
    assert_no_axe_violations(page, "the Activity widget showing search results")

    # A live update of the widget while searching leaves the results (and the typed text) alone.
    publish_activity(hub, "duffy", 7102, "Gradient study")
    page.wait_for_function("s => document.querySelector(s).textContent.includes('Gradient study')",
                           arg=f"{frame} ul.feed", timeout=WAIT_MS, polling=POLL_MS)
    expect(results).to_have_count(1)
    expect(box).to_have_value("zanzibar")
    expect(box).to_be_focused()
    wait_announced(page, "1 new item, shown when the search is cleared.")  # the news is behind the results

    clear = page.get_by_role("button", name="Clear the search")
    clear.click()
    expect(box).to_have_value("")
    expect(box).to_be_focused()
    expect(page.locator(f"{frame} ul.feed")).to_be_visible()
    expect(page.locator(f"{frame} ul.feed")).to_contain_text("Gradient study")  # the live feed kept up
    expect(page.locator(f"{frame} .feed-results")).to_be_hidden()
    expect(clear).to_be_hidden()
    done(page)


def test_no_match_escape_and_an_error_are_said_in_the_widget(setup):  # noqa: F811
    """"No messages match"; Escape goes back to the live feed; a 4xx's words show in the widget's frame."""
    hub, browser = setup
    feed = widget_idx(hub, "feed")
    frame = f"#widget-{feed}"
    page = visit(browser, hub, "/designteam")
    wait_loaded(page)
    box = page.locator(f"{frame} .feed-search-q")
    said = page.locator(f"{frame} .feed-search-said")
    box.fill("qwxzyplonk")
    expect(said).to_have_text("No messages match \u201cqwxzyplonk\u201d.")
    expect(page.locator(f"{frame} ul.feed")).to_be_hidden()
    assert_no_axe_violations(page, "the Activity widget when nothing matches")
    box.press("Escape")
    expect(box).to_have_value("")
    expect(page.locator(f"{frame} ul.feed")).to_be_visible()

    page.route("**/api/search?*", lambda route: route.fulfill(
        status=400, content_type="application/json", body=json.dumps({"error": "q must be at most 200 characters"})))
    box.fill("anything")
    expect(said).to_have_text("Search failed: q must be at most 200 characters (Enter tries again.)")
    expect(said).to_have_class(re.compile(r"feed-search-error"))
    assert page.locator(f"{frame} .feed-search-said").evaluate("e => e.closest('.widget').id") == f"widget-{feed}"
    assert_no_axe_violations(page, "the Activity widget showing a search error")
    page.unroute("**/api/search?*")
    box.press("Enter")
    expect(said).not_to_have_class(re.compile(r"feed-search-error"))
    done(page)


def test_a_found_summary_is_shown_as_text_never_run(setup):  # noqa: F811
    """A title with markup comes back as the words it is: no element made of it, no script run."""
    hub, browser = setup
    feed = widget_idx(hub, "feed")
    publish_activity(hub, "mizmo", 7103, 'Quokka <img src=x onerror="window.pwned=1"> <b>bold</b>')
    page = visit(browser, hub, "/designteam")
    wait_loaded(page)
    expect(page.locator(f"#widget-{feed} ul.feed")).to_contain_text("Quokka")
    page.locator(f"#widget-{feed} .feed-search-q").fill("quokka")
    result = page.locator(f"#widget-{feed} .feed-results .feed-item")
    expect(result).to_have_count(1)
    expect(result.locator(".feed-text")).to_contain_text('<img src=x onerror="window.pwned=1"> <b>bold</b>')
    assert result.locator(".feed-text img, .feed-text b").count() == 0
    assert page.evaluate("() => window.pwned") is None
    done(page)


def test_older_results_page_back_and_keep_the_keyboards_place(setup):  # noqa: F811
    """20 at a time; "Older results" adds the next page below (the focus stays on it) and asks with the cursor."""
    hub, browser = setup
    feed = widget_idx(hub, "feed")
    frame = f"#widget-{feed}"
    page = visit(browser, hub, "/designteam")
    wait_loaded(page)
    asked = searches(page)
    page.locator(f"{frame} .feed-search-q").fill("ticket")  # the demo's designteam opened many
    results = page.locator(f"{frame} .feed-results .feed-item")
    expect(results).to_have_count(20)
    older = page.get_by_role("button", name="Older results")
    expect(page.locator(f"{frame} .feed-search-said")).to_have_text(
        "20 messages (and older ones) match \u201cticket\u201d.")
    older.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("([s, n]) => document.querySelectorAll(s).length > n",
                           arg=[f"{frame} .feed-results .feed-item", 20], timeout=WAIT_MS, polling=POLL_MS)
    assert "before=" in asked[-1], asked
    if older.is_visible():
        expect(older).to_be_focused()
    else:  # that was all: the focus went to the first of the page loaded
        assert page.evaluate("() => document.activeElement.classList.contains('feed-result')")
    texts = results.evaluate_all("els => els.map(e => e.textContent)")
    assert all("ticket" in t.lower() for t in texts)
    done(page)


def test_the_pop_out_widget_searches_too_and_without_the_script_the_box_goes_to_search(setup):  # noqa: F811
    """/designteam/<feed> has the same box; with scripts off, Enter opens /search with the same people's filter."""
    hub, browser = setup
    feed = widget_idx(hub, "feed")
    page = visit(browser, hub, f"/designteam/{feed}")
    page.locator(".feed-search-q").fill("mockups")
    expect(page.locator(".feed-results .feed-item").first).to_contain_text("mockups")
    expect(page.locator("ul.feed")).to_be_hidden()
    done(page)

    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(hub.url + f"/designteam/{feed}")
    page.locator(".feed-search-q").fill("mockups")
    page.locator(".feed-search-q").press("Enter")
    page.wait_for_url(re.compile(r"/search\?q=mockups&hub=designteam$"))
    expect(page.locator(".search-results li").first).to_contain_text("mockups")
    context.close()
