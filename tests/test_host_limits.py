"""At most N outside fetches in flight per host: a storm of rebuilds queues in Hubs, not at Bodhi's door."""

import pytest
import pytest_twisted
from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from hubs.services.http import HostLimits, TreqClient


def test_slots_are_given_first_come_first_served_up_to_the_limit_per_host():
    """Two slots per host: the third caller waits until one is released; another host is not affected."""
    limits = HostLimits(2)
    first, second, third = (limits.acquire("bodhi") for _ in range(3))
    other = limits.acquire("pagure")
    assert first.called and second.called and not third.called and other.called
    assert (limits.in_flight("bodhi"), limits.waiting("bodhi")) == (2, 1)
    limits.release("bodhi")
    assert third.called and limits.in_flight("bodhi") == 2 and limits.peak["bodhi"] == 2


def test_a_cancelled_waiter_gives_up_its_place():
    """A widget whose own time limit passes while it waits leaves the queue; the next waiter gets the slot."""
    limits = HostLimits(1)
    limits.acquire("bodhi")
    gone, next_one = limits.acquire("bodhi"), limits.acquire("bodhi")
    gone.addErrback(lambda f: f.trap(defer.CancelledError))
    gone.cancel()
    limits.release("bodhi")
    assert next_one.called and limits.waiting("bodhi") == 0


def test_idle_hosts_are_forgotten_when_too_many_are_known():
    """Counters for idle hosts (calendar URLs people typed) do not grow without bound."""
    limits = HostLimits(1)
    limits.MAX_HOSTS = 3
    for n in range(3):
        limits.acquire(f"h{n}")
        limits.release(f"h{n}")
    limits.acquire("busy")
    assert set(limits._slots) == {"busy"}


@pytest.mark.parametrize("per_host", [0, -1])
def test_a_limit_below_one_is_refused(per_host):
    """A host with no slot would never be fetched: refused at construction."""
    with pytest.raises(ValueError):
        HostLimits(per_host)


class Held(Resource):
    """Answers each request only when the test says so; counts requests in flight."""

    isLeaf = True

    def __init__(self):
        super().__init__()
        self.open: list = []
        self.most = 0

    def render_GET(self, request):
        self.open.append(request)
        self.most = max(self.most, len(self.open))
        return NOT_DONE_YET

    def answer_all(self):
        for request in self.open:
            request.write(b'{"ok": true}')
            request.finish()
        self.open = []


@pytest_twisted.ensureDeferred
async def test_a_burst_of_fetches_reaches_a_host_at_most_per_host_at_a_time():
    """Ten fetches to one host with per_host=3: the server never sees more than 3 at once, all ten answer."""
    resource = Held()
    site = Site(resource)
    site.log = lambda request: None
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    try:
        http = TreqClient(reactor, 5.0, allow_private=True, per_host=3)
        base = f"http://127.0.0.1:{port.getHost().port}"
        fetches = [defer.ensureDeferred(http.get_json(f"{base}/x{n}")) for n in range(10)]
        done = defer.gatherResults(fetches)
        while not done.called:
            await deferLater(reactor, 0.02, lambda: None)
            resource.answer_all()
        assert await done == [{"ok": True}] * 10
        assert resource.most == 3 and http.hosts.peak[base.split("//")[1]] == 3
    finally:
        await port.stopListening()
