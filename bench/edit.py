"""An owner's edit -> the new text on an open stream; the POST's own latency; a plain GET beside them.

    make bench-edit      (or: tools/dev.sh bench edit [--edits 200] [--gets 500] [--pause 0.02])

A real fedmsg-hub (demo data) with real PostgreSQL and memcached. One EventSource
stream stays open on the Design Team hub, read by a thread of this process that
notes when each widget event arrives. Each round POSTs a new text to the hub's
sticky note (``POST /designteam/<idx>/config`` with an owner's API token and the
version it edited, on a kept-alive connection) and measures the time from just
before the POST until the stream carries that text, and until the POST's answer
is read. A plain ``GET /designteam/<idx>/json`` of the same widget is timed in the
same run, between the edits, as the reference.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
import uuid

from common import machine, scratch_hub


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


class StreamWatcher(threading.Thread):
    """Reads one EventSource stream; remembers when each sticky text first arrived (perf_counter)."""

    def __init__(self, port: int, hub: str, idx: int):
        super().__init__(daemon=True)
        self.idx = idx
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("GET", f"/{hub}/events", headers={"Accept": "text/event-stream"})
        self.response = self.conn.getresponse()
        assert self.response.status == 200, self.response.status
        self.seen: dict[str, float] = {}
        self.events = 0
        self.cond = threading.Condition()
        self.hello = threading.Event()

    def run(self) -> None:
        kind, data = None, []
        try:
            while True:
                line = self.response.readline()
                if not line:
                    return
                line = line.rstrip(b"\r\n")
                if line:
                    name, _, value = line.partition(b":")
                    value = value[1:] if value.startswith(b" ") else value
                    if name == b"event":
                        kind = value
                    elif name == b"data":
                        data.append(value)
                    continue
                now = time.perf_counter()
                if kind == b"hello":
                    self.hello.set()
                elif kind == b"widget" and data:
                    payload = json.loads(b"\n".join(data))
                    if payload.get("idx") == self.idx and isinstance(payload.get("data"), dict):
                        with self.cond:
                            self.events += 1
                            self.seen.setdefault(payload["data"].get("text"), now)
                            self.cond.notify_all()
                kind, data = None, []
        except OSError:
            return

    def wait_for(self, text: str, timeout: float = 10.0) -> float | None:
        end = time.monotonic() + timeout
        with self.cond:
            while text not in self.seen:
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            return self.seen[text]


def db_counters(dsn: str) -> dict:
    """Transactions committed in the hub's database, and reads of its hubs table (each hub re-read does one)."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
            commits = cur.fetchone()[0]
            cur.execute("SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables"
                        " WHERE relname = 'hubs'")
            hub_reads = cur.fetchone()[0]
        return {"commits": commits, "hub_reads": hub_reads}
    finally:
        conn.close()


def commit_cost(dsn: str, n: int = 100) -> list[float]:
    """How long one durable commit (a one-row UPDATE, its WAL flushed) takes on this database now, in ms.

    The edit's floor: an acknowledged edit waits for one such flush. On a shared disk it
    moves between ~0.3 ms and several ms with the neighbours' I/O, so it is printed beside.
    """
    import psycopg2

    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS bench_commit_probe (id int PRIMARY KEY, n int)")
            cur.execute("INSERT INTO bench_commit_probe VALUES (1, 0) ON CONFLICT DO NOTHING")
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                cur.execute("UPDATE bench_commit_probe SET n = n + 1 WHERE id = 1")
                times.append((time.perf_counter() - t0) * 1000)
            cur.execute("DROP TABLE bench_commit_probe")
        return times
    finally:
        conn.close()


def request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
            headers: dict | None = None) -> tuple[int, bytes]:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, response.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--gets", type=int, default=500)
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between edits")
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    print(f"# Edit benchmark — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}\n")
    with scratch_hub() as hub:
        token = subprocess.run([sys.executable, "-m", "hubs.people.tokens", "--dsn", hub.dsn, "create", "mizmo",
                                "--name", "bench"], capture_output=True, text=True, check=True).stdout.strip()
        layout = json.loads(hub.get("/designteam/json")[1])
        sticky = next(w for c in layout["columns"].values() for w in c if w["plugin"] == "sticky")
        idx = sticky["idx"]
        hub.get(sticky["url"])  # warm
        watcher = StreamWatcher(hub.web_port, "designteam", idx)
        watcher.start()
        assert watcher.hello.wait(10), "no hello on the stream"
        writer = http.client.HTTPConnection("127.0.0.1", hub.web_port, timeout=30)
        reader = http.client.HTTPConnection("127.0.0.1", hub.web_port, timeout=30)
        status, body = request(reader, "GET", f"/designteam/{idx}/config", headers={"Authorization": f"Bearer {token}"})
        assert status == 200, body
        version = json.loads(body)["version"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        to_viewer, post, gets, conflicts = [], [], [], 0
        run = uuid.uuid4().hex[:6]
        counted = None
        for i in range(args.warmup + args.edits):
            if i == args.warmup:
                time.sleep(1.5)  # PostgreSQL publishes its counters about once a second
                counted = db_counters(hub.dsn)
            text = f"Edit {run} number {i} **bold**"
            body = json.dumps({"config": {"text": text}, "version": version}).encode()
            t0 = time.perf_counter()
            status, answer = request(writer, "POST", f"/designteam/{idx}/config", body, headers)
            t_post = time.perf_counter()
            if status == 409:
                conflicts += 1
            assert status == 200, (status, answer)
            seen = watcher.wait_for(text)
            assert seen is not None, f"edit {i} never reached the stream"
            version += 1
            if i >= args.warmup:
                to_viewer.append((seen - t0) * 1000)
                post.append((t_post - t0) * 1000)
            time.sleep(args.pause)
            for _ in range(args.gets // max(1, args.edits) if i >= args.warmup else 0):
                g0 = time.perf_counter()
                status, _ = request(reader, "GET", f"/designteam/{idx}/json")
                gets.append((time.perf_counter() - g0) * 1000)
                assert status == 200
        time.sleep(1.5)  # the hub's own bus messages come back; PostgreSQL publishes its counters
        after = db_counters(hub.dsn)
        commits = commit_cost(hub.dsn)
        per_edit = {k: (after[k] - counted[k] - 1) / args.edits for k in after}  # -1: the counting query
        extra = watcher.events - (args.warmup + args.edits)
        health = json.loads(hub.get("/healthz")[1])
        writer.close()
        reader.close()

    def row(name, values):
        return (f"{name:<28} p50 {pct(values, 50):6.2f} ms  p99 {pct(values, 99):6.2f} ms  "
                f"mean {statistics.fmean(values):6.2f} ms  max {max(values):6.2f} ms  (n={len(values)})")

    print(row("edit -> viewer (stream)", to_viewer))
    print(row("POST answered", post))
    print(row("plain GET widget JSON", gets))
    print(row("a durable commit (psycopg2)", commits))
    print(f"\nper edit (edit, its bus echo, the stored message, the GETs): {per_edit['commits']:.2f} transactions,"
          f" {per_edit['hub_reads']:.2f} reads of the hubs table (hub re-reads)")
    print(f"widget events beyond one per edit: {extra}; 409s: {conflicts}; "
          f"hub rebuilds: {health.get('builds', {}).get('rebuilds', '?')}")


if __name__ == "__main__":
    main()
