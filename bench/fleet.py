"""A fleet of hub processes: push to many streams spread over 1, 2 and 3 processes; edit -> viewer elsewhere.

    tools/dev.sh bench fleet [--streams 10000] [--rounds 10] [--edits 50]

Three real fedmsg-hub processes (tests/fleet.py: shared database, memcached and
fedmsg endpoint list, HAProxy in front) on the demo data. For k = 1, 2, 3 the
streams are spread evenly over the first k processes (one epoll client,
bench/sse_swarm.py, per process, connected to the process directly); each round
publishes ``hubs.dummy.poke`` from this process and records when every stream saw
the redrawn widget (last receiver) and each process's own fan-out time
(``last_fanout`` in /healthz). Then an owner's edit is POSTed (API token) to
process 1 while a viewer holds a stream on process 2: POST -> event p50/p99.
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

from common import machine, start_swarm, swarm_ready

from hubs.db.migrate import migrate
from hubs.db.populate import load_demo
from tests.conftest import drop_database, fresh_database
from tests.fleet import Fleet
from tests.hubproc import BlockingStream


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def ask(swarm: subprocess.Popen, line: str) -> None:
    swarm.stdin.write(line + "\n")
    swarm.stdin.flush()


def push_rounds(fleet: Fleet, k: int, streams: int, rounds: int) -> dict:
    """Open ``streams`` spread over the first ``k`` processes; time ``rounds`` bus pokes."""
    share = [streams // k + (1 if i < streams % k else 0) for i in range(k)]
    swarms = [start_swarm(p.web_port, "designteam", n) for p, n in zip(fleet.processes, share, strict=False)]
    for swarm, n in zip(swarms, share, strict=True):
        swarm_ready(swarm, n)
    import fedmsg

    last, all_latencies, fanouts = [], [], [[] for _ in range(k)]
    for _ in range(rounds):
        for swarm in swarms:
            ask(swarm, "mark")
        time.sleep(0.05)
        t0 = time.time()
        fedmsg.publish(topic="dummy.poke", modname="hubs", msg={"round": True})
        deadline = time.time() + 15
        while True:
            time.sleep(0.2)
            seen = []
            for swarm in swarms:
                ask(swarm, "report")
                seen.extend(json.loads(swarm.stdout.readline()))
            if len(seen) == streams or time.time() > deadline:
                break
        if len(seen) < streams:
            print(f"  warning: only {len(seen)}/{streams} streams got the event")
        latencies = [(t - t0) * 1000 for t in seen]
        all_latencies.extend(latencies)
        last.append(max(latencies))
        for i in range(k):
            fanouts[i].append(fleet.healthz(i)["last_fanout"]["ms"])
        time.sleep(0.3)
    for swarm in swarms:
        swarm.stdin.close()
        swarm.wait()
    wait_closed(fleet)
    return {"p50": pct(all_latencies, 50), "p99": pct(all_latencies, 99), "last": statistics.median(last),
            "last_max": max(last), "fanout": [statistics.median(f) for f in fanouts], "share": share}


def wait_closed(fleet: Fleet, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and any(fleet.healthz(i)["streams"] for i in range(len(fleet.processes))):
        time.sleep(0.2)


def edit_to_viewer(fleet: Fleet, token: str, edits: int) -> list[float]:
    """POST an owner's edit to process 1; time until a viewer on process 2 gets the widget event."""
    layout = json.loads(fleet.processes[0].get("/designteam/json")[1])
    sticky = next(w for w in layout["columns"]["left"] if w["plugin"] == "sticky")
    stream = BlockingStream(fleet.processes[1].web_port, "/designteam/events")
    stream.next_event("hello")
    times = []
    for n in range(edits):
        text = f"bench edit {n}"
        t0 = time.perf_counter()
        status, body = fleet.processes[0].post_json(f"/designteam/{sticky['idx']}/config", {"text": text},
                                                    token=token)
        assert status == 200, body
        while True:
            payload = json.loads(stream.next_event("widget")["data"])
            if payload["idx"] == sticky["idx"] and payload["data"] == {"text": text}:
                break
        times.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.05)
    stream.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the swarms inherit it
    print(f"# Fleet benchmark — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}\n")
    print(f"command: {' '.join(sys.argv)}\n")
    admin = os.environ["HUBS_TEST_DSN"]
    dsn = fresh_database(admin, "hubs_bench")
    try:
        migrate(dsn)
        load_demo(dsn)
        token = subprocess.run([sys.executable, "-m", "hubs.people.tokens", "--dsn", dsn, "create", "mizmo"],
                               capture_output=True, text=True, check=True).stdout.strip()
        with tempfile.TemporaryDirectory() as tmp, Fleet(Path(tmp), dsn, os.environ["HUBS_TEST_MEMCACHED"],
                                                         n=max(args.processes)) as fleet:
            os.chdir(fleet.processes[0].workdir)  # fedmsg reads ./fedmsg.d: the fleet's endpoints
            import fedmsg
            import fedmsg.config

            config = fedmsg.config.load_config([], None, invalidate_cache=True)
            config.update(name="test.sender", active=False)
            fedmsg.init(**config)
            time.sleep(1.0)  # let every process connect to our endpoint
            for k in args.processes:
                r = push_rounds(fleet, k, args.streams, args.rounds)
                fanout = "  ".join(f"hub{i + 1} {ms:6.1f} ms ({n})" for i, (ms, n) in
                                   enumerate(zip(r["fanout"], r["share"], strict=True)))
                print(f"{args.streams:>6} streams over {k} process(es): last receiver median {r['last']:6.1f} ms "
                      f"(max {r['last_max']:.1f})  p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms  "
                      f"fan-out per process (streams): {fanout}", flush=True)
            times = edit_to_viewer(fleet, token, args.edits)
            print(f"owner edit POSTed to hub1 -> event at a viewer on hub2 ({args.edits} edits, idle fleet): "
                  f"p50 {pct(times, 50):.1f} ms  p99 {pct(times, 99):.1f} ms  max {max(times):.1f} ms")
            calls = [fleet.healthz(i)["builds"]["data_calls"] for i in range(len(fleet.processes))]
            print(f"data() calls per process over the run: {calls}")
    finally:
        drop_database(admin, dsn)


if __name__ == "__main__":
    main()
