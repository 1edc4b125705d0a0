"""Bus publish -> SSE event received: Fedora Messaging (AMQP) beside fedmsg, on one hub, in the same run.

    make bench-push-amqp   (or: tools/dev.sh bench push_amqp [--streams 1 1000] [--rounds 30] [--warmup 2])

One real fedmsg-hub (demo data) consuming both buses: fedmsg from this
process's endpoint, and Fedora Messaging from the test RabbitMQ
(HUBS_TEST_AMQP_URL, else amqp://guest:guest@127.0.0.1:5672/%2F) through a
fresh exclusive queue bound only to ``org.fedoraproject.<env>.#``, where
``<env>`` is unique to this run (a shared broker's other traffic never reaches
the hub). A separate client process holds the streams (bench/sse_swarm.py).

For each stream count the rounds alternate fedmsg / AMQP. Both publish, from
this process, a message whose topic is ``org.fedoraproject.<env>.hubs.dummy.poke``,
which redraws the same widget (the Design Team's Dummy widget), so only the
bus differs:

- fedmsg: ``fedmsg.publish`` (as bench/push.py does);
- AMQP: a ``fedora_messaging.message.Message`` (the base schema class,
  validated) whose encoded body and properties go out through one persistent
  pika ``BlockingConnection`` (no publisher confirms; fedmsg has none either).
  ``fedora_messaging.api.publish`` per message would measure its per-call
  setup (a new connection and a crochet thread) rather than the bus.

Latency = the time each stream saw its first ``event: widget`` - the time just
before publishing. Printed per bus: p50/p99 over every stream and round, the
last receiver (median / max over rounds), the hub's own fan-out time
(``/healthz`` ``last_fanout``), and the ratios AMQP / fedmsg.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
import uuid

from common import machine, scratch_hub, start_swarm, swarm_ready
from push import pct

from tests.fleet import wait_for

AMQP_URL = os.environ.get("HUBS_TEST_AMQP_URL") or "amqp://guest:guest@127.0.0.1:5672/%2F"
SHORT_TOPIC = "hubs.dummy.poke"  # the Design Team's Dummy widget redraws on it (hubs/demo.py)


class AmqpPublisher:
    """One persistent pika connection publishing fedora-messaging schema messages on amq.topic."""

    def __init__(self, url: str, topic: str):
        import pika

        params = pika.URLParameters(url)
        params.heartbeat = 0  # the benchmark sleeps between rounds; nothing to keep alive
        params.client_properties = {"connection_name": "hubs bench/push_amqp.py"}
        self.connection = pika.BlockingConnection(params)
        self.channel = self.connection.channel()
        self.topic = topic

    def message(self, body: dict):
        """Built (and validated) ahead of the timed publish, like fedmsg's config is."""
        from fedora_messaging.message import Message

        message = Message(body=body, topic=self.topic)
        message.validate()
        return message

    def publish(self, message) -> None:
        self.channel.basic_publish(exchange="amq.topic", routing_key=message.topic, body=message._encoded_body,
                                   properties=message._properties)

    def idle(self) -> None:
        self.connection.process_data_events(0)

    def close(self) -> None:
        self.connection.close()


def one_round(swarm, n: int, publish) -> list[float]:
    """Mark, publish, wait until every stream saw a widget event (or 10 s); latencies in ms."""
    swarm.stdin.write("mark\n")
    swarm.stdin.flush()
    time.sleep(0.05)
    t0 = time.time()
    publish()
    deadline = time.time() + 10
    while True:
        time.sleep(0.05)
        swarm.stdin.write("report\n")
        swarm.stdin.flush()
        seen = json.loads(swarm.stdout.readline())
        if len(seen) == n or time.time() > deadline:
            break
    if len(seen) < n:
        print(f"  warning: only {len(seen)}/{n} streams got the event")
    return [(t - t0) * 1000 for t in seen]


def check_same_widget(hub, buses) -> None:
    """Once per bus: the poke redraws exactly the Design Team's Dummy widget (so only the bus differs)."""
    layout = json.loads(hub.get("/designteam/json")[1])
    dummy = next(w["idx"] for col in layout["columns"].values() for w in col
                 if w["plugin"] == "dummy" and w.get("config", {}).get("topic", SHORT_TOPIC) == SHORT_TOPIC)
    stream = hub.stream("designteam")
    try:
        stream.next_event("hello")
        for bus, make in buses.items():
            make()()
            event = json.loads(stream.next_event("widget", deadline=10)["data"])
            assert event["idx"] == dummy, f"{bus} poke redrew widget {event['idx']}, not the Dummy widget {dummy}"
    finally:
        stream.close()
    print(f"# both buses redraw the Dummy widget (idx {dummy}) on /designteam\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 1000])
    parser.add_argument("--rounds", type=int, default=30, help="measured rounds per bus and stream count")
    parser.add_argument("--warmup", type=int, default=2, help="unrecorded rounds per bus first")
    args = parser.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the swarm inherits it
    environment = f"bench{uuid.uuid4().hex[:8]}"
    topic = f"org.fedoraproject.{environment}.{SHORT_TOPIC}"
    print(f"# Push benchmark, fedmsg vs AMQP — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}")
    print(f"# broker {AMQP_URL.split('@')[-1]}, topic {topic}, {args.rounds} rounds per bus "
          f"(+{args.warmup} warm-up), alternating\n")
    extra = {"hubs.sse.keepalive": 15.0, "environment": environment, "hubs.amqp.url": AMQP_URL,
             "hubs.amqp.bindings": [{"exchange": "amq.topic", "routing_keys": [f"org.fedoraproject.{environment}.#"]}]}
    with scratch_hub(extra=extra) as hub:
        os.chdir(hub.workdir)  # fedmsg reads ./fedmsg.d: the scratch hub's bus endpoints
        import fedmsg
        import fedmsg.config

        config = fedmsg.config.load_config([], None, invalidate_cache=True)  # the scratch hub's, not a cached one
        config.update(name="test.sender", active=False)
        fedmsg.init(**config)
        health = lambda: json.loads(hub.get("/healthz")[1])  # noqa: E731
        wait_for(lambda: health().get("amqp", {}).get("consuming"), 30, "the hub's AMQP consumer")
        amqp = AmqpPublisher(AMQP_URL, topic)
        time.sleep(1.0)  # let the hub connect to our fedmsg endpoint
        buses = {
            "fedmsg": lambda: (lambda: fedmsg.publish(topic=SHORT_TOPIC.split(".", 1)[1], modname="hubs",
                                                      msg={"round": True})),
            "amqp": lambda: (lambda m=amqp.message({"round": True}): amqp.publish(m)),
        }
        check_same_widget(hub, buses)
        amqp_before = health()["amqp"]["messages"]
        summary = {}
        try:
            for n in args.streams:
                hub.get("/designteam/3/json")
                swarm = start_swarm(hub.web_port, "designteam", n)
                swarm_ready(swarm, n)
                time.sleep(1.0)
                results = {bus: {"all": [], "last": [], "fanout": []} for bus in buses}
                for i in range(args.warmup + args.rounds):
                    # fedmsg first on even rounds, AMQP first on odd ones: neither always follows the other.
                    for bus in (("fedmsg", "amqp") if i % 2 == 0 else ("amqp", "fedmsg")):
                        lat = one_round(swarm, n, buses[bus]())
                        fanout = health()["last_fanout"]["ms"]
                        if i >= args.warmup and lat:
                            results[bus]["all"].extend(lat)
                            results[bus]["last"].append(max(lat))
                            results[bus]["fanout"].append(fanout)
                        amqp.idle()
                        time.sleep(0.3)
                streams_seen = health()["streams"]
                swarm.stdin.close()
                swarm.wait()
                print(f"{n:>6} streams (hub reports {streams_seen}):")
                for bus, r in results.items():
                    r.update(p50=pct(r["all"], 50), p99=pct(r["all"], 99), last_med=statistics.median(r["last"]),
                             last_max=max(r["last"]), fan_med=statistics.median(r["fanout"]))
                    slow = sum(1 for x in r["last"] if x > 3 * r["last_med"])
                    print(f"  {bus:>6}: p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms  "
                          f"last receiver median {r['last_med']:6.1f} ms (p90 {pct(r['last'], 90):.1f}, "
                          f"max {r['last_max']:.1f})  hub fan-out median {r['fan_med']:5.1f} ms  "
                          f"({len(r['last'])} rounds, {slow} over 3× the median)")
                f, a = results["fedmsg"], results["amqp"]
                print(f"  AMQP / fedmsg: p50 {a['p50'] / f['p50']:.2f}×  p99 {a['p99'] / f['p99']:.2f}×  "
                      f"last receiver median {a['last_med'] / f['last_med']:.2f}×")
                summary[n] = results
                time.sleep(1.0)
        finally:
            amqp.close()
        report = health()
        print(f"\nhub /healthz: amqp messages {report['amqp']['messages'] - amqp_before} "
              f"(expected {len(args.streams) * (args.warmup + args.rounds)}), dropped {report['amqp']['dropped']}, "
              f"bus duplicates {report['bus'].get('duplicates')}")


if __name__ == "__main__":
    main()
