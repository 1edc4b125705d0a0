"""Owner's edit -> viewer, two Hubs trees side by side, edits interleaved: an A/B that a busy machine cannot skew.

    tools/dev.sh bench edit_ab --before /path/to/other/tree [--edits 300] [--pause 0.02]

bench/edit.py's measure (the time from just before ``POST /designteam/<idx>/config`` until the open stream
carries the new text, and until the POST is answered), taken on two real hubs at once: "after" runs this tree,
"before" the tree named (its ``hubs`` package first on the hub's PYTHONPATH), each on a fresh database of its
own, the same PostgreSQL and memcached. Edits alternate between the two (A B A B …), so both see the same
neighbours, disk and scheduler at every moment: on a shared machine, the pair of medians is comparable even when
either figure alone is not. Pass the same tree twice to see the noise floor.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from common import machine
from edit import StreamWatcher, pct, request

from hubs.db.migrate import migrate
from hubs.db.populate import load_demo
from tests.conftest import drop_database, fresh_database
from tests.hubproc import HubProcess


class Side:
    """One hub, its stream watcher, token and connection; ``edit()`` times one edit."""

    def __init__(self, name: str, tree: Path, stack: ExitStack):
        admin = os.environ["HUBS_TEST_DSN"]
        self.name = name
        self.dsn = fresh_database(admin, f"hubs_ab_{name}")
        stack.callback(drop_database, admin, self.dsn)
        migrate(self.dsn)
        load_demo(self.dsn)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        path = os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.hub = HubProcess(tmp, self.dsn, os.environ["HUBS_TEST_MEMCACHED"], env={"PYTHONPATH": path})
        self.hub.start(timeout=120)
        stack.callback(self.hub.stop)
        token = subprocess.run([sys.executable, "-m", "hubs.people.tokens", "--dsn", self.dsn, "create", "mizmo",
                                "--name", "bench"], capture_output=True, text=True, check=True).stdout.strip()
        layout = json.loads(self.hub.get("/designteam/json")[1])
        self.idx = next(w for c in layout["columns"].values() for w in c if w["plugin"] == "sticky")["idx"]
        self.watcher = StreamWatcher(self.hub.web_port, "designteam", self.idx)
        self.watcher.start()
        assert self.watcher.hello.wait(10), "no hello on the stream"
        self.conn = http.client.HTTPConnection("127.0.0.1", self.hub.web_port, timeout=30)
        stack.callback(self.conn.close)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        status, body = request(self.conn, "GET", f"/designteam/{self.idx}/config", headers=self.headers)
        assert status == 200, body
        self.version = json.loads(body)["version"]
        self.run = uuid.uuid4().hex[:6]
        self.builds = sorted(json.loads(self.hub.get("/healthz")[1]).get("builds", {}))  # which code it runs
        self.to_viewer: list[float] = []
        self.post: list[float] = []

    def edit(self, i: int, keep: bool) -> None:
        text = f"Edit {self.run} number {i} **bold**"
        body = json.dumps({"config": {"text": text}, "version": self.version}).encode()
        t0 = time.perf_counter()
        status, answer = request(self.conn, "POST", f"/designteam/{self.idx}/config", body, self.headers)
        t_post = time.perf_counter()
        assert status == 200, (self.name, status, answer)
        seen = self.watcher.wait_for(text)
        assert seen is not None, f"{self.name}: edit {i} never reached the stream"
        self.version += 1
        if keep:
            self.to_viewer.append((seen - t0) * 1000)
            self.post.append((t_post - t0) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="the other Hubs tree (a git worktree)")
    parser.add_argument("--after", help="the tree to compare with it (default: this one)")
    parser.add_argument("--edits", type=int, default=300, help="edits on each hub")
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between two edits")
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    after_tree = Path(args.after).resolve() if args.after else Path(__file__).resolve().parent.parent
    print(f"# Edit A/B, interleaved — {time.strftime('%Y-%m-%d %H:%M')} — {machine()} — "
          f"load {os.getloadavg()[0]:.1f}\n# before: {args.before}\n# after:  {after_tree}\n")
    with ExitStack() as stack:
        sides = [Side("before", Path(args.before).resolve(), stack), Side("after", after_tree, stack)]
        for i in range(args.warmup + args.edits):
            for side in sides if i % 2 else reversed(sides):  # who goes first alternates too
                side.edit(i, i >= args.warmup)
                time.sleep(args.pause)
        load = os.getloadavg()[0]
    for side in sides:
        for name, values in (("edit -> viewer", side.to_viewer), ("POST answered", side.post)):
            print(f"{side.name:<7} {name:<15} p50 {pct(values, 50):6.2f} ms  p90 {pct(values, 90):6.2f} ms  "
                  f"p99 {pct(values, 99):6.2f} ms  mean {statistics.fmean(values):6.2f} ms  (n={len(values)})")
    for side in sides:
        print(f"{side.name:<7} /healthz build counters: {' '.join(side.builds)}")
    before, after = (pct(s.to_viewer, 50) for s in sides)
    print(f"\nedit -> viewer p50 after/before: {after / before:.2f}; load at the end {load:.1f}")


if __name__ == "__main__":
    main()
