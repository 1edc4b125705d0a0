"""Signed-in requests with and without remembered credentials — `GET /api/me` with an API token.

    tools/dev.sh bench credentials [--seconds 8] [--rounds 2]

Two real hubs on fresh databases (the same PostgreSQL and memcached): one with ``hubs.credentials_ttl: 0`` (every
request asks PostgreSQL who the token is), one with the default (remembered while PostgreSQL's notices of
revocations are heard). wrk asks each in turn, ``--rounds`` times alternately, with the same token header; the
figures of one round are comparable (the same neighbours), the ratio is what to read. A plain anonymous
``GET /api/me`` on the remembering hub is the floor.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from contextlib import ExitStack

from common import machine, scratch_hub, wrk


def token_for(hub, user: str = "mizmo") -> str:
    return subprocess.run([sys.executable, "-m", "hubs.people.tokens", "--dsn", hub.dsn, "create", user,
                           "--name", "bench"], capture_output=True, text=True, check=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    print(f"# Remembered credentials — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}\n")
    with ExitStack() as stack:
        asking = stack.enter_context(scratch_hub(extra={"hubs.credentials_ttl": 0}))
        remembering = stack.enter_context(scratch_hub())
        sides = [("asks PostgreSQL", asking, token_for(asking)), ("remembers", remembering, token_for(remembering))]
        for _name, hub, token in sides:  # warm: the token read once, the routes imported
            wrk(f"{hub.url}/api/me", seconds=1, connections=2, headers={"Authorization": f"Bearer {token}"})
        rows = []
        for round_ in range(args.rounds):
            for name, hub, token in sides:
                r = wrk(f"{hub.url}/api/me", seconds=args.seconds, connections=args.connections,
                        headers={"Authorization": f"Bearer {token}"})
                rows.append((round_ + 1, name, r))
            floor = wrk(f"{remembering.url}/api/me", seconds=args.seconds, connections=args.connections)
            rows.append((round_ + 1, "anonymous (floor)", floor))
        print("| round | token | req/s | p50 ms | p99 ms | non-2xx |")
        print("|---|---|---:|---:|---:|---:|")
        for round_, name, r in rows:
            print(f"| {round_} | {name} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['non2xx']} |")
        for round_ in range(1, args.rounds + 1):
            by = {name: r for n, name, r in rows if n == round_}
            print(f"\nround {round_}: remembering / asking req/s = "
                  f"{by['remembers']['rps'] / by['asks PostgreSQL']['rps']:.2f}")
        health = remembering.get("/healthz")[1].decode()
        print(f"\nremembering hub's /healthz credentials: {health[health.find('credentials'):][:90]}")


if __name__ == "__main__":
    main()
