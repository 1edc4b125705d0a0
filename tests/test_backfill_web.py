"""Backfills as people meet them: the owners' button, first sign-in and hub creation queue one, the Activity
widget says how far it got, /healthz and /metrics show them (a whole Hubs on fakes)."""

import dataclasses
import json

import fedmsg.config
import pytest
import pytest_twisted
from treq.testing import StubTreq
from twisted.internet import defer
from twisted.internet.task import Clock

from hubs.bus.meta import MessageMeta
from hubs.demo.history import DAY, records_between
from hubs.models import Hub, User
from hubs.people.auth import hash_secret
from hubs.testing.harness import make_hubs, make_site
from hubs.testing.history import FakeHistory, FakeJobs
from hubs.widgets import load_registry
from tests.conftest import make_config

META = MessageMeta(fedmsg.config.load_config([], None))
NOW = 1_796_000_000.0
RECORDS = records_between(NOW - 3 * DAY, NOW, NOW)
REGISTRY = load_registry()


@pytest.fixture
def clock():
    """The one clock, at a moment the demo history ends at."""
    c = Clock()
    c.advance(NOW)
    return c


@pytest.fixture
def store(fake_store, clock):
    for name in ("nobody", "ralph", "ryanlerch", "mizmo", "duffy"):
        fake_store.users[name] = User(name, name.title())
    fake_store.users["boss"] = User("boss", "The Boss", is_admin=True)
    for name in fake_store.users:
        fake_store.tokens[hash_secret(f"token-of-{name}")] = (name, "tests")
        fake_store.sessions[hash_secret(f"cookie-of-{name}")] = (name, f"csrf-of-{name}", clock.seconds() + 3600)
    return fake_store


@pytest.fixture
def jobs(store):
    return FakeJobs(store)


@pytest.fixture
def hubs(store, fake_cache, fake_bus, clock, jobs):
    """A whole Hubs on fakes, with backfills from a fake datagrepper over three days of the demo history."""
    config = make_config(**{"hubs.backfill.days": 3.0, "hubs.backfill.window": DAY / 4})
    hubs = pytest_twisted.blockon(defer.ensureDeferred(make_hubs(
        config, store, fake_cache, fake_bus, clock, history=FakeHistory(RECORDS, NOW, META), backfill_jobs=jobs)))
    # Each window stored as it comes (the clock stands still here: no batch would be stored for its age).
    hubs.backfill.settings = dataclasses.replace(hubs.backfill.settings, batch_rows=1)
    return hubs


@pytest.fixture
def http(hubs):
    return StubTreq(make_site(hubs).resource())


async def post(http, path, who=None, cookies=None, headers=None):
    headers = dict(headers or {})
    if who:
        headers["Authorization"] = f"Bearer token-of-{who}"
    response = await http.post(f"http://hubs.test{path}", headers=headers, cookies=cookies or {})
    return response.code, json.loads(await response.content())


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("nobody", 403), ("ralph", 403), ("ryanlerch", 403),
                                             ("mizmo", 202), ("boss", 202)])
@pytest_twisted.ensureDeferred
async def test_only_owners_may_ask_for_their_hubs_history(http, jobs, who, status):
    """The owners' button: 202 with the job for owners (and admins); 401/403 saying why for everyone else."""
    code, body = await post(http, "/api/hub/designteam/backfill", who)
    assert code == status, body
    if status == 202:
        assert body["job"]["kind"] == "hub" and body["job"]["name"] == "designteam"
        assert body["job"]["status"] in ("queued", "running") and 0 <= body["job"]["percent"] <= 100
        assert ("hub", "designteam") in jobs.jobs
    else:
        assert body["error"] and jobs.jobs == {}


@pytest_twisted.ensureDeferred
async def test_the_button_with_a_session_needs_the_csrf_token_and_unknown_hubs_are_404(http, jobs):
    """A session write without the page's CSRF token is refused; a hub that does not exist is a 404."""
    cookies = {"hubs_session": "cookie-of-mizmo"}
    code, body = await post(http, "/api/hub/designteam/backfill", cookies=cookies)
    assert code == 403 and "CSRF" in body["error"] and jobs.jobs == {}
    code, body = await post(http, "/api/hub/designteam/backfill", cookies=cookies,
                            headers={"X-CSRF-Token": "csrf-of-mizmo"})
    assert code == 202
    code, body = await post(http, "/api/hub/nowhere/backfill", "boss")
    assert code == 404


@pytest_twisted.ensureDeferred
async def test_asking_again_while_it_runs_answers_the_running_one(http, hubs):
    """A second press while the backfill runs starts nothing new: the same job, further along."""
    hubs.backfill.stop_after = 3
    await hubs.backfill.request("hub", "designteam")
    await hubs.backfill.run("hub", "designteam")
    code, body = await post(http, "/api/hub/designteam/backfill", "mizmo")
    assert code == 202 and body["job"]["status"] == "running" and body["job"]["windows"] == 3


@pytest_twisted.ensureDeferred
async def test_the_activity_widget_says_how_far_the_history_got(hubs, store):
    """While the hub's backfill runs the Activity widget says "Loading history… N %"; when it is done, the
    messages it brought are listed and the notice is gone."""
    widget = store.add_widget_sync("designteam", "feed", "left", 50, REGISTRY["feed"].validate({}))
    await hubs.directory.reload_hub("designteam")
    hubs.backfill.stop_after = 5
    await hubs.backfill.request("hub", "designteam")
    await hubs.backfill.run("hub", "designteam")
    percent = await hubs.backfill.jobs.get("hub", "designteam")
    hubs.backfill.fleet[percent.key] = percent  # as the next poll sees it
    payload = json.loads(await hubs.states.payload("designteam", widget.idx))
    assert payload["data"]["loading"] == percent.percent and 0 < percent.percent < 100
    assert f"Loading history… {percent.percent} %" in payload["html"]
    hubs.backfill.stop_after = None
    await hubs.backfill.run("hub", "designteam")
    payload = json.loads(await hubs.states.payload("designteam", widget.idx))
    assert payload["data"]["loading"] is None and "Loading history" not in payload["html"]
    assert payload["data"]["items"] and payload["data"]["items"][0]["ts"] > NOW - DAY


@pytest_twisted.ensureDeferred
async def test_a_first_sign_in_and_a_new_hub_queue_their_past(hubs, jobs):
    """A person's first sign-in queues their backfill; a new team hub queues the team's; a second sign-in none."""
    await hubs.accounts.sign_in("newcomer", "New Comer", "n@example.org")
    assert jobs.jobs[("person", "newcomer")].status == "queued"
    assert jobs.jobs[("person", "newcomer")].since == NOW - 3 * DAY
    del jobs.jobs[("person", "newcomer")]
    await hubs.accounts.sign_in("newcomer", "New Comer", "n@example.org")
    assert ("person", "newcomer") not in jobs.jobs
    await hubs.editor.create_hub(Hub("websites", "Web", user_hub=False), [("left", "feed", {})], ["mizmo"], "boss")
    assert jobs.jobs[("hub", "websites")].status == "queued"


@pytest_twisted.ensureDeferred
async def test_health_and_metrics_show_running_backfills(http, hubs):
    """/healthz lists the backfills this process walks; /metrics counts them and what they stored."""
    hubs.backfill.stop_after = 2
    await hubs.backfill.request("person", "mizmo")
    hubs.backfill.running[("person", "mizmo")] = await hubs.backfill.jobs.claim("person", "mizmo", "x", NOW, 60)
    response = await http.get("http://hubs.test/healthz")
    body = json.loads(await response.content())
    assert [j["name"] for j in body["backfills"]["running"]] == ["mizmo"] and body["backfills"]["open"] == 1
    response = await http.get("http://hubs.test/metrics")
    text = (await response.content()).decode()
    assert "hubs_backfills_running 1.0" in text and 'hubs_backfill_messages_total{outcome="stored"}' in text
