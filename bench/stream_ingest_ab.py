"""Stream ingest, versions of ``hubs/db/stream_store.py`` side by side on a busy machine (issue 16).

    git show main:hubs/db/stream_store.py > /tmp/before.py
    HUBS_TEST_DSN=... PYTHONPATH=$PWD:$PWD/bench python bench/stream_ingest_ab.py [--messages 20000] \
        before=/tmp/before.py after=hubs/db/stream_store.py[,sort][,sql:STATEMENT]

``bench/stream.py``'s world and messages, written through each version's ``INSERT_WITH_ITEMS`` (batches of
500) into a fresh database of its own (migrated; ``sql:`` runs a statement after, e.g. to drop an index), the
batches interleaved between the versions (the order turned every batch), so that the load of other work on
the machine falls on all alike. Per version: messages/s (wall of the parameters and the statement), the
Python part, and the CPU the database backend spent (from /proc: the server must run on this machine).
``sort``: the people's entries sorted by person before the parameters are built."""
import argparse
import gc
import importlib.util
import os
import sys
import time

import psycopg2

sys.path.insert(0, os.path.join(os.getcwd(), "bench"))
import stream as bench  # noqa: E402

from hubs.db.migrate import migrate  # noqa: E402
from hubs.db.recorder import stored_message  # noqa: E402
from hubs.stream.model import HubEntry, NewItem  # noqa: E402
from tests.conftest import drop_database, fresh_database  # noqa: E402

BATCH = 500


def backend_cpu(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def version(spec: str, admin: str) -> dict:
    name, rest = spec.split("=", 1)
    path, *options = rest.split(",")
    loader = importlib.util.spec_from_file_location(f"stream_store_{name}", path)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    dsn = fresh_database(admin, "hubs_bench_ab")
    migrate(dsn)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    for option in options:
        if option.startswith("sql:"):
            cur.execute(option[4:])
    cur.execute("SELECT pg_backend_pid()")
    return {"name": name, "module": module, "sort": "sort" in options, "dsn": dsn, "conn": conn, "cur": cur,
            "pid": cur.fetchone()[0], "cpu": 0.0, "wall": 0.0, "python": 0.0, "statements": []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("versions", nargs="+", help="name=path/to/stream_store.py[,sort][,sql:STATEMENT]")
    args = parser.parse_args()
    world = bench.World(args.people)
    now = time.time()
    messages = [world.message(i, now - (args.messages - i)) for i in range(args.messages)]
    decided = [(world.index.concerns(m), world.index.feed_hubs(m)) for m in messages]
    rows = [stored_message(m, now=now) for m in messages]
    gc.collect()
    gc.freeze()  # as bench/stream.py and a running hub
    admin = os.environ["HUBS_TEST_DSN"]
    versions = []
    try:
        for spec in args.versions:
            versions.append(version(spec, admin))
        for b, i in enumerate(range(0, len(rows), BATCH)):
            chunk = rows[i:i + BATCH]
            for v in versions if b % 2 == 0 else versions[::-1]:
                start = time.perf_counter()
                items = [NewItem(r.msg_id, p, why)
                         for r, (d, _) in zip(chunk, decided[i:i + BATCH], strict=True) for p, why in d.items()]
                hubs = [HubEntry(r.msg_id, h)
                        for r, (_, found) in zip(chunk, decided[i:i + BATCH], strict=True) for h in found]
                if v["sort"]:
                    items.sort(key=lambda item: item.person)
                params = v["module"].insert_with_items_params(chunk, items, hubs)
                built, cpu = time.perf_counter(), backend_cpu(v["pid"])
                v["cur"].execute(v["module"].INSERT_WITH_ITEMS, params)
                v["cur"].fetchall()
                end = time.perf_counter()
                v["cpu"] += backend_cpu(v["pid"]) - cpu
                v["wall"] += end - start
                v["python"] += built - start
                v["statements"].append(end - built)
        print("| version | messages/s | wall s | Python s | backend CPU s | statement ms, mean of each fifth |")
        print("|---|---:|---:|---:|---:|---|")
        for v in versions:
            s, n = v["statements"], max(1, len(v["statements"]) // 5)
            fifths = " ".join(f"{1000 * sum(s[k:k + n]) / len(s[k:k + n]):.0f}" for k in range(0, len(s), n))
            print(f"| {v['name']} | {len(rows) / v['wall']:,.0f} | {v['wall']:.1f} | {v['python']:.1f} |"
                  f" {v['cpu']:.1f} | {fifths} |", flush=True)
    finally:
        for v in versions:
            v["conn"].close()
            drop_database(admin, v["dsn"])


if __name__ == "__main__":
    main()
