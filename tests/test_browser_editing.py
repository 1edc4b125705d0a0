"""In real headless Chromium: log in through a local OpenID Connect provider, edit the hub in the page,
and watch every change arrive live in an anonymous viewer's page. Non-owners see no edit controls."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.conftest import OIDCProvider, need_service, services_settings
from tests.hubproc import HubProcess, free_port

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, demo_db, memcached_servers, canned_services_process):
    if not Path(CHROMIUM).exists():
        need_service("Chromium", f"{CHROMIUM} is missing (make test installs it)")
    provider_port = free_port()
    servers = ",".join(f"{h}:{p}" for h, p in memcached_servers)
    settings = {**services_settings(canned_services_process), "hubs.oidc.issuer": f"http://127.0.0.1:{provider_port}",
                "hubs.admins": ["boss"]}
    hub = HubProcess(tmp_path_factory.mktemp("edit-hub"), demo_db, servers, extra=settings)
    provider = OIDCProvider(provider_port, hub.url + "/oidc/callback")
    hub.extra.update(provider.settings())
    hub._write_config()
    hub.start()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield hub, browser
        browser.close()
    hub.stop()
    provider.stop()


def log_in(browser, hub, username):
    """A new browser context, logged in as ``username`` through the provider's login form."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(hub.url + "/designteam")
    page.get_by_role("link", name="Log in", exact=True).click()
    page.locator("input[name=login]").fill(username)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    consent = page.locator("button[type=submit]", has_text="Continue")
    if consent.count():
        consent.click()
    page.wait_for_url(hub.url + "/designteam")
    expect(page.locator("#account .account-name")).to_have_text(username)
    return page


def widget_idx(hub, plugin):
    layout = json.loads(hub.get("/designteam/json")[1])
    return next(w["idx"] for c in layout["columns"].values() for w in c if w["plugin"] == plugin)


def test_owner_edits_live_and_anonymous_viewer_sees_each_change(setup):
    """mizmo logs in, edits the sticky note, adds a widget and moves it; an anonymous page follows live."""
    hub, browser = setup
    viewer = browser.new_context().new_page()
    viewer.goto(hub.url + "/designteam")
    expect(viewer.locator("#live")).to_have_class("live live-live")
    expect(viewer.locator("#edit-toggle")).to_have_count(0)
    viewer.evaluate("window.__marker = 1")

    owner = log_in(browser, hub, "mizmo")
    owner.locator("#edit-toggle").click()
    sticky = widget_idx(hub, "sticky")

    # Edit the sticky note through its settings form.
    owner.locator(f"#widget-{sticky} .edit-bar button", has_text="Settings").click()
    dialog = owner.locator("dialog.editor")
    dialog.locator("textarea[name=text]").fill("Edited **in the page**")
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_have_count(0)
    expect(viewer.locator(f"#widget-{sticky} strong")).to_have_text("in the page")

    # A bad value is refused inline, naming the field.
    dummy = widget_idx(hub, "dummy")
    owner.locator(f"#widget-{dummy} .edit-bar button", has_text="Settings").click()
    dialog = owner.locator("dialog.editor")
    expect(dialog.locator("select[name=color] option")).to_have_count(5)  # choices are offered as a list
    dialog.locator("input[name=topic]").fill("not a topic")
    dialog.locator("button[type=submit]").click()
    expect(dialog.locator('.field-error[data-for="topic"]')).to_contain_text("short topic")
    dialog.locator("button", has_text="Cancel").click()

    # Add a widget to the right column: it appears in the viewer's page and loads.
    before = viewer.locator("[data-column=right] .widget").count()
    owner.locator("[data-column=right] .add-widget").click()
    dialog = owner.locator("dialog.editor")
    dialog.locator("select[name=plugin]").select_option("sticky")
    expect(dialog.locator(".help").first).to_contain_text("note")  # the catalogue describes each widget
    dialog.locator("button[type=submit]").click()
    # The new widget's settings open at once; set its text there.
    settings = owner.locator("dialog.editor", has_text="Sticky note settings")
    settings.locator("textarea[name=text]").fill("Fresh note")
    settings.locator("button[type=submit]").click()
    expect(owner.locator("dialog.editor")).to_have_count(0)
    expect(owner.locator("[data-column=right] .widget").last).to_be_focused()  # the keyboard is on the new widget
    expect(viewer.locator("[data-column=right] .widget")).to_have_count(before + 1)
    expect(viewer.locator("[data-column=right] .widget").last).to_contain_text("Fresh note")
    added = viewer.locator("[data-column=right] .widget").last
    expect(added).not_to_have_class("widget loading")
    new_idx = added.get_attribute("data-idx")

    # Move it to the other column: the viewer's page moves it too.
    bar = owner.locator(f"#widget-{new_idx} .edit-bar")
    bar.get_by_role("button", name="Move Sticky note to the left column").click()
    expect(viewer.locator(f"[data-column=left] #widget-{new_idx}")).to_have_count(1)

    # Remove it (with confirmation).
    owner.once("dialog", lambda d: d.accept())
    owner.locator(f"#widget-{new_idx} .edit-bar button", has_text="Remove").click()
    expect(viewer.locator(f"#widget-{new_idx}")).to_have_count(0)

    assert viewer.evaluate("window.__marker") == 1  # all of it without a reload
    assert "login of mizmo" in hub.log()


def test_non_owner_sees_no_edit_controls_and_gets_403(setup):
    """ralph can subscribe or star, but sees no edit controls, and the API refuses his edits."""
    hub, browser = setup
    page = log_in(browser, hub, "ralph")
    expect(page.locator("#hub-actions button", has_text="Star")).to_have_count(1)
    expect(page.locator("#edit-toggle")).to_have_count(0)
    sticky = widget_idx(hub, "sticky")
    status = page.evaluate("""async ([idx]) => {
        const me = await (await fetch('/api/me?hub=designteam')).json();
        const r = await fetch('/designteam/' + idx + '/config', {method: 'POST',
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf},
            body: JSON.stringify({config: {text: 'hijacked'}})});
        return [r.status, (await r.json()).error];
    }""", [sticky])
    assert status[0] == 403 and "owners" in status[1]
    # Starring works, and the stats widget of everyone's page counts it. (The header's Follow button appears when
    # the page knows the follow state: clicked before that, a busy machine's layout shift can move the target.)
    expect(page.locator("#hub-follow")).to_have_attribute("data-state", re.compile("^(not-)?following$"))
    page.locator("#hub-actions button", has_text="Star").click()
    expect(page.locator("#hub-actions button", has_text="Starred")).to_have_count(1)


def test_first_login_creates_a_personal_hub(setup):
    """Someone new logs in: their personal hub exists, with the default widgets, and they own it."""
    hub, browser = setup
    page = log_in(browser, hub, "newcomer")
    page.goto(hub.url + "/newcomer")
    expect(page.locator(".widget")).not_to_have_count(0)
    expect(page.locator("#edit-toggle")).to_have_count(1)
    plugins = {w["plugin"] for c in json.loads(hub.get("/newcomer/json")[1])["columns"].values() for w in c}
    assert {"feed", "badges", "avatar", "subscriptions"} <= plugins


def test_logout(setup):
    """Logging out ends the session: the page shows the login link again."""
    hub, browser = setup
    page = log_in(browser, hub, "duffy")
    page.locator("#account button", has_text="Log out").click()
    expect(page.get_by_role("link", name="Log in", exact=True)).to_have_count(1)


def test_site_admin_creates_a_team_hub_from_the_list(setup):
    """A site admin creates a team hub from the list of hubs and lands on it, owning nothing but able to edit."""
    hub, browser = setup
    page = log_in(browser, hub, "boss")
    page.goto(hub.url + "/")
    page.locator("#new-hub").click()
    dialog = page.locator("dialog.editor")
    dialog.locator("input[name=name]").fill("Bad Name")
    dialog.locator("button[type=submit]").click()
    expect(dialog.locator('.field-error[data-for="name"]')).to_contain_text("lowercase")
    dialog.locator("input[name=name]").fill("websites")
    dialog.locator("input[name=summary]").fill("The websites team")
    dialog.locator("button[type=submit]").click()
    page.wait_for_url(hub.url + "/websites")
    expect(page.locator(".hub-header h1")).to_contain_text("websites")
    expect(page.locator(".widget")).not_to_have_count(0)
    expect(page.locator("#edit-toggle")).to_have_count(1)  # admins may edit any hub


def test_an_owner_fills_the_hubs_history_and_the_activity_widget_says_how_far(setup):
    """Editing, an owner presses "Fill history": a toast says it is under way, and the hub's Activity widget says
    "Loading history… N %" while it runs (this module's datagrepper always fails: it stays running, backing off).
    The focus stays on the button."""
    hub, browser = setup
    page = log_in(browser, hub, "mizmo")
    page.locator("#edit-toggle").click()
    button = page.locator("#fill-history")
    button.click()
    expect(page.locator("#toast")).to_contain_text("Filling in the history from datagrepper")
    expect(button).to_be_focused()
    expect(page.locator(f"#widget-{widget_idx(hub, 'feed')}")).to_contain_text("Loading history…")
