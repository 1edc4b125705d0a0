"""Request latency while memcached is frozen (SIGSTOP), with bus messages causing rebuilds.

    make bench-frozen-cache     (or: tools/dev.sh bench frozen_cache [--seconds 8] [--rate 5] [--tree PATH])

A real hub with its own memcached; a publisher sends ``hubs.dummy.poke`` at
``--rate`` messages a second (each rebuilds a widget, which reads and writes
memcached); wrk asks a warm widget's JSON meanwhile. Phase 1: memcached
healthy. Phase 2: memcached stopped with SIGSTOP (connections are accepted,
nothing answers: every call waits for the timeout), measured once the first rebuild has met the
freeze. ``--tree`` runs the hub
from another checkout (e.g. the commit before a change) for before/after.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request

from common import machine, scratch_hub, wrk

from tests.fleet import Memcached


def publisher(hub, rate: float, seconds: float) -> subprocess.Popen:
    """A process publishing hubs.dummy.poke from the test.sender endpoint at ``rate`` a second."""
    code = textwrap.dedent(f"""
        import time, fedmsg, fedmsg.config
        config = fedmsg.config.load_config([], None)
        config.update(name="test.sender", active=False)
        fedmsg.init(**config)
        time.sleep(1.0)
        end = time.monotonic() + {seconds}
        while time.monotonic() < end:
            fedmsg.publish(topic="dummy.poke", modname="hubs", msg={{"n": time.time()}})
            time.sleep({1.0 / rate})
    """)
    return subprocess.Popen([sys.executable, "-c", code], cwd=hub.workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--tree", help="run the hub from this source tree (before/after comparisons)")
    args = parser.parse_args()
    if args.tree:
        os.environ["PYTHONPATH"] = os.path.abspath(args.tree)
    cache = Memcached()
    cache.start()
    os.environ["HUBS_TEST_MEMCACHED"] = cache.address
    results = {}
    try:
        with scratch_hub() as hub:
            layout = json.loads(hub.get("/designteam/json")[1])
            widget = next(w for col in layout["columns"].values() for w in col if w["plugin"] == "about")
            url = hub.url + widget["url"]
            urllib.request.urlopen(url).read()
            for phase in ("healthy", "frozen"):
                if phase == "frozen":
                    os.kill(cache.proc.pid, signal.SIGSTOP)
                pub = publisher(hub, args.rate, args.seconds + 3)
                time.sleep(2.0)  # the first rebuild after the freeze has met it (one timeout)
                results[phase] = wrk(url, args.seconds, 16)
                pub.wait()
            os.kill(cache.proc.pid, signal.SIGCONT)
            log = hub.log()
            trips = (log.count("does not answer"), log.count("answers again"))
            if os.environ.get("HUBS_BENCH_SHOW_LOG"):
                print(log[-6000:])
    finally:
        if cache.proc is not None and cache.proc.poll() is None:
            os.kill(cache.proc.pid, signal.SIGCONT)
        cache.stop()
    print(f"# Frozen memcached — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}")
    print(f"hub from {args.tree or 'this tree'}; {args.rate:g} rebuilding messages/s; wrk -t1 -c16 -d{args.seconds}s "
          "on a warm widget's JSON\n")
    print(f"{'memcached':<10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for phase, r in results.items():
        print(f"{phase:<10}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['non2xx']:>8}")
    print(f"\nthe hub's log: server taken off the ring {trips[0]} time(s), put back {trips[1]} time(s)")


if __name__ == "__main__":
    main()
