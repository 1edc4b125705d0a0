"""The AMQP edge alone: what a message costs from the broker to a BusMessage in Hubs' reactor.

    tools/dev.sh bench amqp_edge [--messages 500]

Prints (1) the cost of building a BusMessage: from a fedmsg envelope (fedmsg.meta)
and from a Fedora Messaging message (schema classes), over the demo feed's
realistic messages; (2) publish (through fedora-messaging's Twisted service) →
delivered to ``AmqpSource``'s ``deliver`` in the reactor thread, one message at a
time (p50/p99) and as a burst (messages per second), on HUBS_TEST_AMQP_URL or the
local RabbitMQ. The whole path to a browser is measured by the push benchmark.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid

import fedmsg.config
from twisted.internet import defer, task

from hubs.bus.amqp import AmqpConnection, AmqpSettings, AmqpSource
from hubs.bus.message import from_amqp, from_fedmsg
from hubs.bus.meta import MessageMeta
from hubs.demo.feed import demo_event

URL = os.environ.get("HUBS_TEST_AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672/%2F"


def conversion(n: int) -> None:
    meta = MessageMeta(fedmsg.config.load_config([], None))
    rng = random.Random(7)
    events = [demo_event(i, rng) for i in range(n)]
    for name, fn, items in (("from_fedmsg (fedmsg.meta)", lambda e: from_fedmsg(e, meta), [e.fedmsg for e in events]),
                            ("from_amqp (schema classes)", from_amqp, [e.amqp for e in events])):
        best = min(_per_item(fn, items) for _ in range(5))
        print(f"  {name:28s} {best * 1e6:8.1f} µs a message")


def _per_item(fn, items) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)
    return (time.perf_counter() - start) / len(items)


async def round_trips(reactor, n: int) -> None:
    prefix = f"org.fedoraproject.bench{uuid.uuid4().hex[:8]}"
    arrived: dict[str, float] = {}
    waiters: dict[str, defer.Deferred] = {}

    def deliver(message):
        arrived[message.id] = time.perf_counter()
        waiter = waiters.pop(message.id, None)
        if waiter is not None:
            waiter.callback(None)

    settings = AmqpSettings(URL, bindings=({"exchange": "amq.topic", "routing_keys": [f"{prefix}.#"]},),
                            prefetch=100)
    source = AmqpSource(settings, reactor, deliver)
    await source.start()
    publisher = AmqpConnection(AmqpSettings(URL))
    publisher.start()
    rng = random.Random(3)

    def message(i):
        m = demo_event(i, rng).amqp
        m.topic = f"{prefix}.{m.topic.split('.', 3)[3]}"
        return m

    latencies = []
    for i in range(n):
        m = message(i)
        waiters[m.id] = defer.Deferred()
        sent = time.perf_counter()
        await publisher.factory.publish(m, "amq.topic")
        await waiters.get(m.id, defer.succeed(None))
        latencies.append((arrived[m.id] - sent) * 1000)
    latencies.sort()
    print(f"  one at a time ({n}): p50 {statistics.median(latencies):.2f} ms, "
          f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.2f} ms")
    burst = [message(n + i) for i in range(n)]
    start = time.perf_counter()
    for m in burst:
        publisher.factory.publish(m, "amq.topic")
    while not all(m.id in arrived for m in burst):
        await task.deferLater(reactor, 0.01, lambda: None)
    took = time.perf_counter() - start
    print(f"  burst of {n}: {n / took:.0f} messages/s delivered ({source.health()['dropped'] or 'none'} dropped)")
    await source.stop()
    await publisher.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()
    print("BusMessage construction:")
    conversion(args.messages)
    print(f"AMQP publish -> AmqpSource deliver ({URL.split('@')[-1]}):")
    task.react(lambda reactor: defer.ensureDeferred(round_trips(reactor, args.messages)))


if __name__ == "__main__":
    main()
