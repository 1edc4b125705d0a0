"""Host names resolved on threads of their own, which never hold the process up.

Twisted resolves a host name with ``getaddrinfo`` on the reactor's thread pool, and the reactor joins that pool
when it stops. A DNS server that does not answer makes each lookup wait its full timeout (several times over), so
a few hung lookups of an outside service held a stopping hub for as long (the storm benchmark's hub did not stop
within 10 s), and ten of them fill the pool every ``deferToThread`` shares. Hubs resolves on a small pool of
daemon threads that nothing joins: a stop is never late because of DNS, and a hung lookup only delays the fetch
that asked (which has its own timeout).
"""

from __future__ import annotations

import socket
import threading

from twisted.internet._resolver import GAIResolver  # Twisted's own resolver, given another pool
from twisted.python.threadpool import ThreadPool

THREADS = 4


class DaemonThreadPool(ThreadPool):
    """A ``ThreadPool`` whose threads do not keep the interpreter alive and that nothing joins at a stop."""

    threadFactory = staticmethod(lambda *a, **kw: threading.Thread(*a, daemon=True, **kw))


def install(reactor, threads: int = THREADS, getaddrinfo=socket.getaddrinfo) -> DaemonThreadPool | None:
    """Resolve host names for ``reactor`` on a pool of ``threads`` daemon threads (once; None if it cannot)."""
    if not hasattr(reactor, "installNameResolver"):
        return None
    current = getattr(reactor.nameResolver, "hubs_pool", None)
    if current is not None:
        return current
    pool = DaemonThreadPool(0, threads, name="hubs-dns")
    pool.start()
    resolver = GAIResolver(reactor, getThreadPool=lambda: pool, getaddrinfo=getaddrinfo)
    resolver.hubs_pool = pool
    reactor.installNameResolver(resolver)
    return pool
