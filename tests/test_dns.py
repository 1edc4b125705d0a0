"""Host names resolve on daemon threads the reactor never joins (``hubs/services/dns.py``)."""

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from hubs.services import dns


class FakeReactor:
    def __init__(self):
        self.nameResolver = object()

    def installNameResolver(self, resolver):
        self.nameResolver = resolver


def test_install_once_and_a_pool_of_daemon_threads():
    reactor = FakeReactor()
    pool = dns.install(reactor, threads=2)
    assert pool is not None and pool.max == 2 and pool.name == "hubs-dns"
    assert dns.install(reactor) is pool  # installed once
    ran = threading.Event()
    seen = {}

    def work():
        seen["daemon"] = threading.current_thread().daemon
        ran.set()

    pool.callInThread(work)
    assert ran.wait(5)
    assert seen["daemon"] is True  # a hung lookup never keeps a stopping process alive
    pool.stop()


def test_without_a_resolver_api_nothing_is_installed():
    assert dns.install(object()) is None


HUNG = textwrap.dedent("""
    import sys, time
    from twisted.internet import reactor
    from twisted.internet.endpoints import HostnameEndpoint
    from twisted.internet.protocol import Factory, Protocol
    from twisted.internet._resolver import GAIResolver
    def hang(*a, **kw):  # a DNS server that never answers
        time.sleep(60)
    if sys.argv[1] == "hubs":
        from hubs.services import dns
        dns.install(reactor, getaddrinfo=hang)
    else:
        reactor.installNameResolver(GAIResolver(reactor, getaddrinfo=hang))
    for n in range(12):
        HostnameEndpoint(reactor, f"host{n}.example", 80).connect(Factory.forProtocol(Protocol))
    reactor.callLater(0.3, reactor.stop)
    reactor.run()
    print("stopped", flush=True)
""")


@pytest.mark.parametrize("resolver, stops", [("hubs", True), ("twisted", False)])
def test_a_dns_server_that_never_answers_does_not_hold_a_stop(resolver, stops):
    """With Twisted's resolver the stopping reactor joins the lookups' threads (60 s here); with Hubs' it stops
    at once. (The second case shows what the first fixes.)"""
    started = time.monotonic()
    try:
        out = subprocess.run([sys.executable, "-c", HUNG, resolver], capture_output=True, text=True, timeout=5)
        finished = True
    except subprocess.TimeoutExpired:
        finished = False
    assert finished is stops
    if stops:
        assert "stopped" in out.stdout and time.monotonic() - started < 5
