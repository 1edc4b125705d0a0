"""The list of hubs at Fedora's size: size and time of the first page of ``/`` and ``/api/hubs``.

    make bench-frontpage   (or: tools/dev.sh bench frontpage [--teams N] [--people M] [--seconds 4] [--rounds 3])

Starts a fedmsg-hub on the demo data plus the scale data set (``hubs/demo/scale.py``: N team hubs, M personal
hubs), then prints: the bytes of the first page of ``/`` and ``/api/hubs`` (anonymous, and signed in as a person
with many hubs), wrk throughput and latency of each (and of a page deep in the list, a ``q=`` filter and a
``kind=`` filter), the time to walk the whole list 100 hubs a page, and, in this process, what the reactor pays
to sort the public order again after a change (``public_order``) and to cut one page (``HubLister.page``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import urllib.request

from common import machine, scratch_hub, wrk

from hubs.db.populate import load_demo
from hubs.demo.scale import load_scale, scale_plan
from hubs.people.auth import hash_secret

TOKEN = "bench-frontpage-token-of-ralph"


def populate(teams: int, people: int):
    def load(dsn: str) -> None:
        import psycopg2

        load_demo(dsn)
        load_scale(dsn, scale_plan(teams, people))
        conn = psycopg2.connect(dsn)
        with conn, conn.cursor() as cur:
            cur.execute("INSERT INTO api_tokens (token_hash, username, name) VALUES (%s, 'ralph', 'bench')",
                        (hash_secret(TOKEN),))
        conn.close()
    return load


def fetch(url: str, headers: dict | None = None) -> tuple[bytes, float]:
    started = time.perf_counter()
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as answer:
        body = answer.read()
    return body, (time.perf_counter() - started) * 1000


def in_process(hubs_count: int) -> dict[str, float]:
    """The pure work behind a page, timed here on as many hubs: the sort after a change, and cutting one page."""
    from hubs.directory.frontpage import mine_order, page_of, public_order
    from hubs.models import Hub

    hubs = {f"hub{i:05d}": Hub(f"hub{i:05d}", user_hub=i % 3 == 0) for i in range(hubs_count)}
    active = {f"hub{i:05d}": rank for rank, i in enumerate(range(0, hubs_count, hubs_count // 50))}
    mine_roles = {f"hub{i:05d}": {"member"} for i in range(0, hubs_count, max(1, hubs_count // 1000))}  # 1,000
    timings: dict[str, list[float]] = {"sort": [], "mine": [], "page": [], "deep page": []}
    for _ in range(20):
        started = time.perf_counter()
        order = public_order(hubs.values(), active)
        timings["sort"].append(time.perf_counter() - started)
        started = time.perf_counter()
        mine = mine_order("hub00000", mine_roles, hubs)
        timings["mine"].append(time.perf_counter() - started)
        started = time.perf_counter()
        page_of(mine, order, None, 30)
        timings["page"].append(time.perf_counter() - started)
        started = time.perf_counter()
        page_of(mine, order, order[len(order) // 2], 30)
        timings["deep page"].append(time.perf_counter() - started)
    result = {name: statistics.median(values) * 1000 for name, values in timings.items()}
    result.update(narrowing(hubs))
    return result


def narrowing(hubs: dict) -> dict[str, float]:
    """``q`` in the lister: the words of every hub split (at start), then a new query of each kind (ms)."""
    from types import SimpleNamespace

    from hubs.directory.activity import EMPTY
    from hubs.models import Hub
    from hubs.search.query import parse_query
    from hubs.web.frontpage import HubLister

    hubs = {name: Hub(name, f"The {name} group of the Fedora Project", user_hub=h.user_hub)
            for name, h in hubs.items()}
    lister = HubLister(SimpleNamespace(hubs=hubs, hubs_generation=lambda: 1))
    started = time.perf_counter()
    lister.warm()
    out = {"split every hub's words": (time.perf_counter() - started) * 1000}
    for label, q in (("q: a word no hub has", "design"), ("q: a word every hub has", "fedora"),
                     ("q: a part of names", "hub01"), ("q: a word and an exclusion", "fedora -group"),
                     ("q: a phrase every hub has", '"fedora project"')):
        started = time.perf_counter()
        lister.narrowed(EMPTY, None, parse_query({"q": q}))  # a new query: found, then the order narrowed
        out[label] = (time.perf_counter() - started) * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teams", type=int, default=2000)
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    signed_in = {"Authorization": f"Bearer {TOKEN}"}
    sizes: dict[str, int] = {}
    with scratch_hub(populate=populate(args.teams, args.people)) as hub:
        first = json.loads(fetch(hub.url + "/api/hubs")[0])
        # Walk everything, 100 a page, as a script would.
        walked, names, cursor, page_times, deep = 0, set(), None, [], None
        while True:
            body, ms = fetch(hub.url + "/api/hubs?limit=100" + (f"&cursor={cursor}" if cursor else ""))
            page = json.loads(body)
            walked += len(page["hubs"])
            names |= {h["name"] for h in page["hubs"]}
            page_times.append(ms)
            cursor = page["next"]
            if cursor is None:
                break
            if len(page_times) == 35:
                deep = cursor
        for name, url, headers in (
                ("/", "/", None), ("/ signed in", "/", signed_in), ("/api/hubs", "/api/hubs", None),
                ("/api/hubs signed in", "/api/hubs", signed_in), ("/api/hubs?limit=100", "/api/hubs?limit=100", None)):
            sizes[name] = len(fetch(hub.url + url, headers)[0])
        targets = {
            "/api/me signed in": ("/api/me", signed_in),  # the baseline of a signed-in read: the token's lookup
            "/": ("/", None), "/ signed in": ("/", signed_in), "/api/hubs": ("/api/hubs", None),
            "/api/hubs signed in": ("/api/hubs", signed_in), "/api/hubs deep": (f"/api/hubs?cursor={deep or ''}", None),
            "/api/hubs?q=design": ("/api/hubs?q=design", None), "/api/hubs?kind=team": ("/api/hubs?kind=team", None),
        }
        runs: dict[str, list[dict]] = {name: [] for name in targets}
        for _ in range(args.rounds):  # alternating, so that every target sees the same machine noise
            for name, (path, headers) in targets.items():
                runs[name].append(wrk(hub.url + path, args.seconds, args.connections, headers=headers))
                time.sleep(0.3)
        rows = {name: {key: statistics.median(r[key] for r in results) for key in ("rps", "p50", "p99")}
                | {"non2xx": sum(r["non2xx"] for r in results)} for name, results in runs.items()}
        hubs_count = walked
    pure = in_process(hubs_count)

    print(f"# Front page benchmark — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}")
    print(f"{hubs_count} hubs ({args.teams} team + {args.people} personal from the scale set, and the demo's); "
          f"first page {len(first['hubs'])} hubs; load average {os.getloadavg()[0]:.1f}\n")
    print("first page size")
    for name, size in sizes.items():
        print(f"  {name:<24}{size / 1024:>8.1f} KiB")
    print(f"\nwrk -t1 -c{args.connections} -d{args.seconds}s, {args.rounds} alternating rounds, medians")
    print(f"  {'target':<24}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    for name, r in rows.items():
        print(f"  {name:<24}{r['rps']:>8.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['non2xx']:>9}")
    print(f"\nwhole list walked 100 a page: {walked} hubs (each once: {walked == len(names)}) in "
          f"{len(page_times)} pages, {sum(page_times):.0f} ms; a page p50 {statistics.median(page_times):.1f} ms, "
          f"max {max(page_times):.1f} ms")
    print(f"in-process on {hubs_count} hubs (median of 20): sort the public order after a change "
          f"{pure['sort']:.1f} ms, the visitor's own hubs (1,000) {pure['mine']:.2f} ms, cut the first page "
          f"{pure['page']:.3f} ms, a page in the middle {pure['deep page']:.3f} ms")
    print("in-process, once each: " + ", ".join(f"{name} {pure[name]:.1f} ms" for name in pure
                                                 if name.startswith(("q:", "split"))))


if __name__ == "__main__":
    main()
