"""Where a real hub's time goes on a hot path: the fedmsg-hub under cProfile, driven like the benchmarks.

    tools/dev.sh bench profile_hub [--path json|edit] [--seconds 8] [--edits 300] [--top 40]

``json``: wrk (-t1 -c16) on a warm widget's ``GET /designteam/<idx>/json`` for ``--seconds``.
``edit``: ``--edits`` owner's edits of the Design Team's sticky note (``POST .../config``), each
waited for on an open EventSource stream, as bench/edit.py does. The hub is stopped with SIGTERM
(it exits through the reactor, so cProfile writes its file) and the functions with the most own
time (tottime) and the most cumulative time are printed, with the count of requests or edits, so
a figure per request can be read off. cProfile slows Python calls by roughly 1.5-2x: read the
shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import pstats
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import fresh_database, machine, wrk
from edit import StreamWatcher, request

from hubs.db.migrate import migrate
from hubs.db.populate import load_demo
from tests.conftest import drop_database
from tests.hubproc import HubProcess


def drive_json(hub: HubProcess, seconds: int) -> str:
    layout = json.loads(hub.get("/designteam/json")[1])
    url = hub.url + layout["columns"]["left"][0]["url"]
    wrk(url, 2, 16)  # warm-up, not profiled
    hub.proc.send_signal(signal.SIGUSR1)
    result = wrk(url, seconds, 16)
    return f"{result['rps'] * seconds:.0f} requests profiled ({result['rps']:.0f}/s, p50 {result['p50']:.2f} ms)"


def drive_edit(hub: HubProcess, edits: int) -> str:
    token = subprocess.run([sys.executable, "-m", "hubs.people.tokens", "--dsn", hub.dsn, "create", "mizmo",
                            "--name", "bench"], capture_output=True, text=True, check=True).stdout.strip()
    layout = json.loads(hub.get("/designteam/json")[1])
    idx = next(w for c in layout["columns"].values() for w in c if w["plugin"] == "sticky")["idx"]
    watcher = StreamWatcher(hub.web_port, "designteam", idx)
    watcher.start()
    assert watcher.hello.wait(10)
    conn = http.client.HTTPConnection("127.0.0.1", hub.web_port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    version = json.loads(request(conn, "GET", f"/designteam/{idx}/config", headers=headers)[1])["version"]
    run = uuid.uuid4().hex[:6]
    for i in range(edits + 10):
        if i == 10:  # after a warm-up
            hub.proc.send_signal(signal.SIGUSR1)
        text = f"Edit {run} {i}"
        body = json.dumps({"config": {"text": text}, "version": version}).encode()
        status, answer = request(conn, "POST", f"/designteam/{idx}/config", body, headers)
        assert status == 200, (status, answer)
        assert watcher.wait_for(text) is not None
        version += 1
        time.sleep(0.01)
    conn.close()
    return f"{edits} edits"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", choices=("json", "edit"), default="json")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--edits", type=int, default=300)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", help="keep the raw profile here")
    args = parser.parse_args()
    admin = os.environ["HUBS_TEST_DSN"]
    dsn = fresh_database(admin, "hubs_profile")
    try:
        migrate(dsn)
        load_demo(dsn)
        with tempfile.TemporaryDirectory() as tmp:
            out = args.out or str(Path(tmp, "hub.prof"))
            wrapper = str(Path(__file__).parent / "profiled_hub.py")
            hub = HubProcess(Path(tmp), dsn, os.environ["HUBS_TEST_MEMCACHED"],
                             prefix=[sys.executable, wrapper, out])
            hub.start(timeout=180)
            try:
                done = drive_json(hub, args.seconds) if args.path == "json" else drive_edit(hub, args.edits)
            finally:
                hub.proc.send_signal(signal.SIGUSR2)
                time.sleep(1)
                hub.stop(timeout=60)
            text = io.StringIO()
            stats = pstats.Stats(out, stream=text)
            stats.sort_stats("tottime").print_stats(args.top)
            stats.sort_stats("cumulative").print_stats(args.top)
    finally:
        drop_database(admin, dsn)
    print(f"# Profile of {args.path} — {time.strftime('%Y-%m-%d %H:%M')} — {machine()} — load {os.getloadavg()[0]:.1f}")
    print(f"driven: {done}\n")
    print(text.getvalue())


if __name__ == "__main__":
    main()
