"""Bus publish -> SSE event received, with many streams open on one hub; memory per idle stream.

    make bench-push      (or: tools/dev.sh bench push [--streams 1000 10000] [--rounds 20])

A real fedmsg-hub (demo data) and a separate client process holding the
streams (bench/sse_swarm.py). Each round publishes ``hubs.dummy.poke`` from
this process over the bus and records when every stream saw the redrawn
widget. Latency = receive time - time just before publishing.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import time
from pathlib import Path

from common import machine, scratch_hub, start_swarm, swarm_ready


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the swarm inherits it
    print(f"# Push benchmark — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}\n")
    with scratch_hub(extra={"hubs.sse.keepalive": 15.0}) as hub:
        os.chdir(hub.workdir)  # fedmsg reads ./fedmsg.d: the scratch hub's bus endpoints
        import fedmsg
        import fedmsg.config

        config = fedmsg.config.load_config([], None, invalidate_cache=True)  # the scratch hub's, not a cached one
        config.update(name="test.sender", active=False)
        fedmsg.init(**config)
        time.sleep(1.0)  # let the hub connect to our endpoint
        for n in args.streams:
            gc.collect()
            hub.get("/designteam/3/json")
            base = rss_kib(hub.proc.pid)
            swarm = start_swarm(hub.web_port, "designteam", n)
            swarm_ready(swarm, n)
            time.sleep(1.0)
            per_stream = (rss_kib(hub.proc.pid) - base) * 1024 / n
            all_latencies, last, fanout = [], [], []
            for _ in range(args.rounds):
                swarm.stdin.write("mark\n")
                swarm.stdin.flush()
                time.sleep(0.05)
                t0 = time.time()
                fedmsg.publish(topic="dummy.poke", modname="hubs", msg={"round": True})
                deadline = time.time() + 10
                while True:
                    time.sleep(0.2 if n > 2000 else 0.05)
                    swarm.stdin.write("report\n")
                    swarm.stdin.flush()
                    seen = json.loads(swarm.stdout.readline())
                    if len(seen) == n or time.time() > deadline:
                        break
                lat = [(t - t0) * 1000 for t in seen]
                fanout.append(json.loads(hub.get("/healthz")[1])["last_fanout"]["ms"])
                if len(seen) < n:
                    print(f"  warning: only {len(seen)}/{n} streams got the event")
                all_latencies.extend(lat)
                last.append(max(lat))
                time.sleep(0.3)
            health = json.loads(hub.get("/healthz")[1])
            swarm.stdin.close()
            swarm.wait()
            print(f"{n:>6} streams (hub reports {health['streams']}): "
                  f"p50 {pct(all_latencies, 50):6.1f} ms  p99 {pct(all_latencies, 99):6.1f} ms  "
                  f"last receiver median {statistics.median(last):6.1f} ms (max {max(last):.1f})  "
                  f"hub fan-out median {statistics.median(fanout):5.1f} ms  "
                  f"memory {per_stream / 1024:5.1f} KiB per idle stream")
            time.sleep(1.0)


if __name__ == "__main__":
    main()
