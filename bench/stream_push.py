"""Bus message -> new item on an open stream, with 1,000 people's streams open (issue 16's figure: p99 <= 30 ms).

    make bench-stream-push    (or: tools/dev.sh bench stream_push [--people 1000] [--rounds 30])

A real fedmsg-hub (demo data plus ``--people`` people, each with an API token and following the same person,
``benchstar``) and a separate client process holding one ``/stream/events`` per person (bench/sse_swarm.py).
Two kinds of rounds, each a message published from this process over the bus:

* **one**: ``benchstar`` comments on one person's update (that person is mentioned; everyone also follows
  ``benchstar``, so the message concerns all of them) — the time until *every* open stream shows the item;
* **mention**: someone nobody follows comments on one person's update — the time until that one stream shows it.

Latency = the stream's receive time - the time just before publishing (same machine, one clock).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
from common import machine, scratch_hub, swarm_ready

from hubs.db.populate import load_demo
from hubs.demo.messages import bodhi_comment
from hubs.people.tokens import create

STAR = "benchstar"


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def people(n: int) -> list[str]:
    return [f"reader{i:05d}" for i in range(n)]


def populate(n: int, tokens_file: Path):
    def fill(dsn: str) -> None:
        load_demo(dsn)
        names = people(n)
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("INSERT INTO users (username) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
                        (names + [STAR],))
            cur.execute("INSERT INTO follows (person, kind, name) SELECT unnest(%s::text[]), 'person', %s",
                        (names, STAR))
        tokens_file.write_text(json.dumps([create(dsn, name, "bench") for name in names]))
    return fill


def start_swarm(port: int, tokens_file: Path):
    return subprocess.Popen([sys.executable, str(Path(__file__).parent / "sse_swarm.py"), str(port),
                             "%" + str(tokens_file)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def round_trip(swarm, publish, expected: int, deadline: float = 10.0) -> list[float]:
    swarm.stdin.write("mark\n")
    swarm.stdin.flush()
    time.sleep(0.05)
    t0 = time.time()
    publish()
    end = time.time() + deadline
    while True:
        time.sleep(0.02)
        swarm.stdin.write("report\n")
        swarm.stdin.flush()
        seen = json.loads(swarm.stdout.readline())
        if len(seen) >= expected or time.time() > end:
            break
    if len(seen) < expected:
        print(f"  warning: only {len(seen)}/{expected} streams got the item")
    return [(t - t0) * 1000 for t in seen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the swarm inherits it
    print(f"# Stream push benchmark — {time.strftime('%Y-%m-%d %H:%M')} — {machine()} — "
          f"load {os.getloadavg()[0]:.1f}\n")
    with tempfile.TemporaryDirectory() as tmp:
        tokens_file = Path(tmp) / "tokens.json"
        extra = {"hubs.sse.keepalive": 15.0, "hubs.fasjson.refresh": 0}
        with scratch_hub(extra=extra, populate=populate(args.people, tokens_file)) as hub:
            os.chdir(hub.workdir)  # fedmsg reads ./fedmsg.d: the scratch hub's bus endpoints
            import fedmsg
            import fedmsg.config

            config = fedmsg.config.load_config([], None, invalidate_cache=True)
            config.update(name="test.sender", active=False)
            fedmsg.init(**config)
            time.sleep(1.0)  # let the hub connect to our endpoint
            swarm = start_swarm(hub.web_port, tokens_file)
            swarm_ready(swarm, args.people)
            time.sleep(1.0)
            names = people(args.people)
            results: dict[str, list[float]] = {"one": [], "mention": []}
            last: list[float] = []
            for r in range(args.rounds):
                for kind in ("mention", "one"):
                    author = STAR if kind == "one" else "adamw"
                    mentioned = names[(r * 7 + (kind == "one")) % len(names)]
                    body = bodhi_comment(author, mentioned, f"pkg{r}-1.0-1.fc43", f"FEDORA-2026-b{r}{kind[0]}",
                                         "bench", ts=time.time())["msg"]
                    lat = round_trip(swarm, lambda b=body: fedmsg.publish(topic="bodhi.update.comment",
                                                                          modname="bodhi", msg=b),
                                     args.people if kind == "one" else 1)
                    results[kind].extend(lat)
                    if kind == "one" and lat:
                        last.append(max(lat))
                    time.sleep(0.2)
            swarm.stdin.close()
            swarm.wait()
    print(f"{args.people} people's streams open, {args.rounds} rounds of each kind")
    for kind, label in (("mention", "a message for one person (mentioned)"),
                        ("one", f"a message for all {args.people} (they follow its author)")):
        lat = results[kind]
        print(f"  {label}: {len(lat)} items, p50 {pct(lat, 50):.1f} ms  p99 {pct(lat, 99):.1f} ms  "
              f"max {max(lat):.1f} ms")
    print(f"  all {args.people}: the last stream's item, median {statistics.median(last):.1f} ms "
          f"(max {max(last):.1f})")


if __name__ == "__main__":
    main()
