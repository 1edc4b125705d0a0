"""HTTP throughput and latency of a real hub, side by side with the bare-Klein ceiling.

    make bench-http            (or: tools/dev.sh bench http_load [--seconds 8] [--rounds 3])

Starts a fedmsg-hub with the demo data on the test services and a bare Klein
process serving the same bytes from memory, then runs wrk against each in
alternation (rounds), so both see the same machine noise. Prints medians and
the ratios the targets are stated in.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import machine, scratch_hub, wrk

from tests.hubproc import free_port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    with scratch_hub() as hub, tempfile.TemporaryDirectory() as tmp:
        layout = json.loads(hub.get("/designteam/json")[1])
        widget = layout["columns"]["left"][0]
        json_url, page_url = hub.url + widget["url"], hub.url + "/designteam"
        for url in (json_url, page_url):  # warm the state
            urllib.request.urlopen(url).read()
        Path(tmp, "w.json").write_bytes(urllib.request.urlopen(json_url).read())
        Path(tmp, "p.html").write_bytes(urllib.request.urlopen(page_url).read())
        port = free_port()
        bare = subprocess.Popen([sys.executable, str(Path(__file__).parent / "bare_klein.py"), str(port),
                                 str(Path(tmp, "w.json")), str(Path(tmp, "p.html"))], stdout=subprocess.PIPE)
        bare.stdout.readline()
        try:
            targets = {
                "bare json": f"http://127.0.0.1:{port}/json",
                "hub widget json": json_url,
                "bare page": f"http://127.0.0.1:{port}/page",
                "hub page": page_url,
            }
            results = {name: [] for name in targets}
            for _ in range(args.rounds):
                for name, url in targets.items():
                    results[name].append(wrk(url, args.seconds, args.connections))
                    time.sleep(0.5)
        finally:
            bare.terminate()
            bare.wait()

    def med(name, key):
        return statistics.median(r[key] for r in results[name])

    print(f"# HTTP benchmark — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}")
    print(f"wrk -t1 -c{args.connections} -d{args.seconds}s, {args.rounds} alternating rounds, medians\n")
    print(f"{'target':<18}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name in targets:
        errors = sum(r["non2xx"] for r in results[name])
        print(f"{name:<18}{med(name, 'rps'):>10.0f}{med(name, 'p50'):>10.2f}{med(name, 'p99'):>10.2f}{errors:>8}")
    json_ratio = med("hub widget json", "rps") / med("bare json", "rps")
    page_ratio = med("hub page", "rps") / med("bare page", "rps")
    p99 = med("hub widget json", "p99")
    print(f"\nwidget JSON at {json_ratio:.0%} of the ceiling (target >= 60%), p99 {p99:.2f} ms (target < 15 ms)")
    print(f"page at {page_ratio:.0%} of the ceiling (target >= 40%)")


if __name__ == "__main__":
    main()
