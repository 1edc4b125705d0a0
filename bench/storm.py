"""At Fedora's size: one bus message that touches thousands of widgets, with viewers on a few hundred hubs.

    make bench-storm     (or: tools/dev.sh bench storm [--teams 2000] [--people 5000] [--streams 1000]
                          [--hubs 200] [--touch 5000] [--push 300] [--fleet 3])

Issue 19. A real fedmsg-hub (or, with ``--fleet N``, N of them behind HAProxy, tests/fleet.py) on the demo
data plus the scale data set (hubs/demo/scale.py: ``--teams`` team hubs, ``--people`` personal hubs, the
hot people ralph, mizmo and nirik members of about half the teams); the outside services are the canned
ones, one port each, counting their requests in flight (bench/storm_services.py).

1. Start-up: fedmsg-hub start -> /healthz answers 200 and a hub page answers; RSS after that, beside a
   hub with the demo data alone, hence RSS per 10,000 widgets.
2. Viewers: ``--streams`` EventSource streams over ``--hubs`` hubs (a few hubs have many viewers, most
   have a few) held by bench/sse_swarm.py; each viewed hub's page and widgets are read once first (as a
   browser does), and ``--prewarm`` widgets the storm will touch but nobody views are read once too (viewed
   earlier in the day: their payloads are cached).
3. The storm: one Bodhi comment by ralph on an update of mizmo's that @mentions nirik and as many other
   contributors as it takes to touch ``--touch`` widgets. Which widgets it touches is computed here by the
   hub's own fedmsg edge and ``MessageHandler.decide`` over the same database rows (and printed). It is published on
   fedmsg from this process. A comment's @mentions change no one's updates: it touches one list of Bodhi
   updates (mizmo's). ``--push N`` adds, published right after it, the end of a Bodhi push: one
   ``bodhi.update.complete.stable`` per update, for N contributors (a seeded sample), which changes each of
   their lists of updates (Bodhi's lane, ``hubs.services.per_host``, under load). From 1 s before until the
   storm is over (at least 5 s after), a separate process reads a viewed hub's page and a warm widget's JSON
   every 10 ms and /healthz every 100 ms.
4. Then: every touched widget that has a viewer must arrive, newer, on every stream of its hub (time from
   publish to its last stream); data() calls the message caused (/healthz ``builds``) and how many were
   for widgets nobody views; the most requests each outside service had in flight at once (the hub's
   limit is ``hubs.services.per_host``); RSS before and after; /healthz answers that were not 200 or took
   longer than HAProxy's check timeout (``timeout check`` of deploy/haproxy.cfg.in, else ``inter``).
   "Arrive" means a payload without an error or stale notice. Streams are not reopened: one that HAProxy
   cuts (a process marked down) counts as never receiving what followed. ``--logs DIR`` keeps the hub logs.
5. Last, ``--check-views`` touched widgets nobody viewed (half of them pre-warmed) are read: each must be
   fresh (built after the publish), and the data() calls those reads cost are counted.

Targets (issue 19): page and widget reads p100 <= 50 ms; /healthz never fails; every viewed touched widget
fresh and pushed within 2 s; no data() for widgets without a viewer until viewed; outside requests in
flight <= the configured limit; start-up with ~50,000 widgets < 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import select
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from common import machine

from hubs.db.migrate import migrate
from hubs.db.populate import load_demo
from hubs.demo.messages import bodhi_comment, bodhi_update_complete
from hubs.demo.scale import HOT_PEOPLE, load_scale, scale_plan
from tests.conftest import drop_database, fresh_database
from tests.hubproc import HubProcess

HERE = Path(__file__).resolve().parent
TOPIC = "org.fedoraproject.dev.bodhi.update.comment"  # what the scratch hub sees (environment "dev")
PUSH_TOPIC = "org.fedoraproject.dev.bodhi.update.complete.stable"
HAPROXY_TEMPLATE = HERE.parent / "deploy" / "haproxy.cfg.in"
PAGE_TARGET_MS, PUSH_TARGET_S, START_TARGET_S = 50.0, 2.0, 10.0


# ---------------------------------------------------------------------------------------------- pure parts

def check_timeout_of(config: str) -> float:
    """HAProxy's health-check timeout in seconds: ``timeout check``, else the check interval ``inter`` (pure)."""
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "": 0.001}
    for pattern in (r"^\s*timeout\s+check\s+(\d+)(ms|s|m|)\b", r"^\s*default-server\b.*?\binter\s+(\d+)(ms|s|m|)\b"):
        found = re.search(pattern, config, re.MULTILINE)
        if found:
            return int(found.group(1)) * units[found.group(2)]
    return 2.0  # HAProxy's default inter


CHECK_TIMEOUT_S = check_timeout_of(HAPROXY_TEMPLATE.read_text()) if HAPROXY_TEMPLATE.exists() else 2.0


def pct(values, q):
    """The q-th percentile (nearest rank) of ``values``; None if there are none."""
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def spread(total: int, hubs: int, skew: float = 1.0) -> list[int]:
    """``total`` streams over ``hubs`` hubs, each at least one, the rest by Zipf weight 1/rank^skew."""
    if hubs <= 0:
        return []
    if total < hubs:
        raise ValueError("need at least one stream per viewed hub")
    weights = [1 / (rank + 1) ** skew for rank in range(hubs)]
    rest = total - hubs
    shares = [rest * w / sum(weights) for w in weights]
    counts = [1 + int(s) for s in shares]
    for i in sorted(range(hubs), key=lambda i: shares[i] - int(shares[i]), reverse=True)[:total - sum(counts)]:
        counts[i] += 1
    return counts


def storm_message(named: list[str]) -> dict:
    """A Bodhi comment by ralph on an update of mizmo's that @mentions every other name in ``named``."""
    mentions = " ".join(f"@{n}" for n in named if n not in ("ralph", "mizmo"))
    text = f"Works for me on the test compose. Thanks for the quick fix, cc {mentions}".strip()
    envelope = bodhi_comment("ralph", "mizmo", "glibc-2.42-3.fc43", "FEDORA-2026-5f0c0ffee1", text, karma=1)
    envelope["topic"] = TOPIC
    return envelope


def push_messages(people: list[str]) -> list[dict]:
    """The end of a Bodhi push: one ``bodhi.update.complete.stable`` per update, an update of each of ``people``."""
    messages = []
    for n, person in enumerate(people):
        envelope = bodhi_update_complete(person, f"pkg{n}-1.0-1.fc43", f"FEDORA-2026-{n:010x}")
        envelope["topic"] = PUSH_TOPIC
        messages.append(envelope)
    return messages


def pick_pushers(people: list[str], n: int, seed: int = 23) -> list[str]:
    """Whose updates the push carries: ``n`` of ``people``, a seeded sample (pure)."""
    return random.Random(seed).sample(sorted(people), min(n, len(people)))


def pick_viewed(hits_by_hub: dict[str, int], user_hubs: set[str], all_hubs: list[str], n_hubs: int,
                seed: int = 19) -> list[str]:
    """The viewed hubs, most viewed first: the hot people's own hubs, then touched personal hubs, touched
    team hubs and untouched hubs (3 : 3 : 2 of the rest), in a shuffled order of popularity."""
    rng = random.Random(seed)
    first = [h for h in HOT_PEOPLE if h in hits_by_hub][:n_hubs]
    rest = n_hubs - len(first)
    people = sorted(h for h in hits_by_hub if h in user_hubs and h not in first)
    teams = sorted(h for h in hits_by_hub if h not in user_hubs)
    untouched = sorted(h for h in all_hubs if h not in hits_by_hub)
    wanted = [min(len(people), rest * 3 // 8), min(len(teams), rest * 3 // 8)]
    wanted.append(min(len(untouched), rest - sum(wanted)))
    chosen = rng.sample(people, wanted[0]) + rng.sample(teams, wanted[1]) + rng.sample(untouched, wanted[2])
    rng.shuffle(chosen)
    return first + chosen


def health_verdict(samples: list[list], timeout_s: float = CHECK_TIMEOUT_S) -> dict:
    """/healthz samples [start, ms, status] -> failures (not 200, or slower than the check timeout) and the
    longest stretch of consecutive failures (HAProxy takes a process out after two failed checks)."""
    failed = [s for s in samples if s[2] != 200 or s[1] > timeout_s * 1000]
    longest, run_start = 0.0, None
    for start, ms, status in samples:
        bad = status != 200 or ms > timeout_s * 1000
        if bad and run_start is None:
            run_start = start
        if bad:
            longest = max(longest, start + ms / 1000 - run_start)
        else:
            run_start = None
    statuses: dict[int, int] = {}
    for s in samples:
        if s[2] != 200:
            statuses[s[2]] = statuses.get(s[2], 0) + 1
    return {"samples": len(samples), "non_200": sum(statuses.values()), "statuses": statuses,
            "slower_than_check": sum(1 for s in samples if s[2] == 200 and s[1] > timeout_s * 1000),
            "failed": len(failed), "longest_failing_s": round(longest, 2),
            "max_ms": max((s[1] for s in samples), default=None)}


def deliveries(events: list[list], expected: dict[str, list[int]], streams: dict[str, int], t0: float) -> dict:
    """Per viewed touched widget, the time from publish until the last of its hub's streams had a newer payload
    with fresh data (no error, no stale notice).

    ``events``: [hub, stream, idx, version, time, fresh] seen since the publish; ``expected``: viewed hub ->
    touched widgets; ``streams``: viewed hub -> streams held. Returns per widget seconds (None: some stream
    never got it), the events that were not for a touched widget of that hub, and those that were but carried
    an error or a stale notice.
    """
    first: dict[tuple[str, int, int], float] = {}
    stray = unfresh = 0
    problems: dict[str, int] = {}
    for hub, stream, idx, version, at, fresh, problem in events:
        if idx not in expected.get(hub, ()) or version is None or version < int(t0 * 1000):
            stray += 1
            continue
        if not fresh:
            unfresh += 1
            problems[problem] = problems.get(problem, 0) + 1
            continue
        key = (hub, stream, idx)
        first[key] = min(first.get(key, at), at)
    latest: dict[int, float | None] = {}
    for hub, widgets in expected.items():
        for idx in widgets:
            times = [first.get((hub, s, idx)) for s in range(streams[hub])]
            latest[idx] = None if any(t is None for t in times) else max(times) - t0
    return {"latest": latest, "stray": stray, "unfresh": unfresh, "problems": problems}


# ---------------------------------------------------------------------------------------------- adapters

def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def get(url: str, timeout: float = 30.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def read_rows(dsn: str):
    """Hubs, widgets and roles as the hub loads them (the store's own row readers)."""
    import psycopg2

    from hubs.db.store import _HUB_COLUMNS, _WIDGET_COLUMNS, _hub, _widget

    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT {_HUB_COLUMNS} FROM hubs ORDER BY name")
            hubs = [_hub(r) for r in cur.fetchall()]
            cur.execute(f"SELECT {_WIDGET_COLUMNS} FROM widgets ORDER BY hub, col, position, id")
            widgets = [_widget(r) for r in cur.fetchall()]
            cur.execute("SELECT hub, username, role FROM roles")
            roles = cur.fetchall()
    finally:
        conn.close()
    return hubs, widgets, roles


def offline_decide(hubs, widgets, roles, meta):
    """The hub's own decision over the same rows, in memory (FakeStore): envelope -> the widgets it touches.

    The envelope goes through the fedmsg edge (fedmsg.meta's usernames) and ``MessageHandler.decide``.
    """
    from twisted.internet import defer
    from twisted.internet.task import Clock

    from hubs.build.cache import FakeCache
    from hubs.bus.publish import FakeBus
    from hubs.config import HubsConfig
    from hubs.testing.harness import make_hubs
    from hubs.testing.store import FakeStore

    store = FakeStore(clock=Clock())
    for hub in hubs:
        store.add_hub(hub)
    for widget in widgets:
        store.widgets[widget.idx] = widget
    for role in roles:
        store.add_role(*role)
    config = HubsConfig.from_fedmsg({"hubs.db.dsn": "x", "hubs.memcached.servers": "127.0.0.1:1"})
    d = defer.ensureDeferred(make_hubs(config, store, FakeCache(), FakeBus(), Clock(), meta=meta))
    loaded = d.result  # the fake store answers at once

    def decide(envelope: dict) -> tuple[int, ...]:
        return loaded.handler.decide(loaded.fedmsg.read(envelope)).hits

    return decide


def choose_storm(decide, people: list[str], touch: int, seed: int = 19) -> tuple[list[str], tuple[int, ...]]:
    """The fewest extra contributors (a seeded order) to @mention so the message touches >= ``touch``."""
    order = sorted(p for p in people if p not in HOT_PEOPLE)
    random.Random(seed).shuffle(order)

    def hits(k):
        return decide(storm_message(list(HOT_PEOPLE) + order[:k]))

    lo, hi = 0, len(order)
    if len(hits(hi)) < touch:
        lo = hi
    while lo < hi:
        mid = (lo + hi) // 2
        if len(hits(mid)) >= touch:
            hi = mid
        else:
            lo = mid + 1
    named = list(HOT_PEOPLE) + order[:lo]
    return named, hits(lo)


def read_line(proc: subprocess.Popen, timeout: float, what: str) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise TimeoutError(f"{what}: no answer within {timeout}s")
    return proc.stdout.readline().strip()


def ask(proc: subprocess.Popen, command: str, timeout: float = 30.0):
    proc.stdin.write(command + "\n")
    proc.stdin.flush()
    return json.loads(read_line(proc, timeout, command))


class Services:
    """bench/storm_services.py in its own process."""

    def __init__(self, delay_ms: float):
        self.proc = subprocess.Popen([sys.executable, str(HERE / "storm_services.py"), "--delay-ms", str(delay_ms)],
                                     stdout=subprocess.PIPE, text=True)
        self.urls = json.loads(read_line(self.proc, 30, "canned services"))

    def stats(self, reset: bool = False) -> dict[str, dict]:
        return {name: json.loads(get(url + ("/_reset" if reset else "/_stats"))[1]) for name, url in self.urls.items()}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def hub_config(urls: dict[str, str], per_host: int) -> dict:
    return {"hubs.sse.keepalive": 15.0, "hubs.services.allow_private_urls": True,
            "hubs.services.per_host": per_host, "hubs.web.max_open_files": 65536,
            **{SETTING.get(name, f"hubs.services.{name}_url"): url for name, url in urls.items()}}


# The people services have settings of their own (the canned FASJSON and dist-git answer for everyone).
SETTING = {"fasjson": "hubs.fasjson.url", "distgit": "hubs.distgit.url"}


class Processes:
    """One hub process, or a fleet behind HAProxy: where to read, where to stream, each process's health."""

    def __init__(self, workdir: Path, dsn: str, extra: dict, fleet: int):
        self.fleet = fleet
        if fleet:
            from tests.fleet import Fleet

            self._fleet = Fleet(workdir, dsn, os.environ["HUBS_TEST_MEMCACHED"], n=fleet, extra=extra)
            self.members = self._fleet.processes
        else:
            self._fleet = None
            self.members = [HubProcess(workdir, dsn, os.environ["HUBS_TEST_MEMCACHED"], extra=extra)]

    def start(self) -> None:
        if self._fleet is not None:
            self._fleet.start(timeout=180)
        else:
            self.members[0].start(timeout=180)

    def stop(self) -> None:
        if self._fleet is not None:
            self._fleet.stop()
        else:
            self.members[0].stop()

    @property
    def url(self) -> str:
        return self._fleet.haproxy.url if self._fleet is not None else self.members[0].url

    @property
    def port(self) -> int:
        return self._fleet.haproxy.port if self._fleet is not None else self.members[0].web_port

    def healthz(self, timeout: float = 60.0, tries: int = 5) -> list[dict]:
        """Each process's /healthz body (a 503's body too: it has the counters); retried while none comes."""
        bodies = []
        for p in self.members:
            for attempt in range(tries):
                try:
                    bodies.append(json.loads(get(p.url + "/healthz", timeout=timeout)[1]))
                    break
                except (OSError, ValueError):
                    if attempt == tries - 1:
                        raise
        return bodies

    def builds(self, key: str = "data_calls", timeout: float = 60.0) -> int:
        """A /healthz ``builds`` counter summed over the processes (data_calls, failures, ...)."""
        return sum(h["builds"][key] for h in self.healthz(timeout))

    def data_calls(self) -> int:
        return self.builds("data_calls")

    def data_calls_now(self) -> int | None:
        """The same, or None if some process does not answer within 5 s (it is busy: not quiet)."""
        try:
            return self.builds("data_calls", timeout=5.0)
        except (OSError, ValueError):
            return None

    def rss(self) -> list[float]:
        return [rss_mib(p.proc.pid) for p in self.members]

    def balancer_status(self) -> dict[str, str]:
        return self._fleet.haproxy.server_status() if self._fleet is not None else {}


@contextmanager
def scratch(populate, extra: dict, fleet: int = 0, logs: Path | None = None):
    """Fresh database, ``populate(dsn)``, then the hub process(es) started: yields (processes, dsn, start s).

    ``logs``: a directory to copy the processes' logs into when they have stopped.
    """
    admin = os.environ["HUBS_TEST_DSN"]
    dsn = fresh_database(admin, "hubs_storm")
    try:
        migrate(dsn)
        populate(dsn)
        with tempfile.TemporaryDirectory() as tmp:
            procs = Processes(Path(tmp), dsn, extra, fleet)
            started = time.monotonic()
            try:
                procs.start()
                status, _ = get(procs.url + "/ralph")
                if status != 200:
                    raise RuntimeError(f"GET /ralph answered {status} after start")
                yield procs, dsn, time.monotonic() - started
            finally:
                try:
                    procs.stop()
                finally:
                    if logs is not None:
                        logs.mkdir(parents=True, exist_ok=True)
                        for i, p in enumerate(procs.members, 1):
                            (logs / f"hub{i}.log").write_text(p.log())
    finally:
        drop_database(admin, dsn)


def read_all(base: str, paths: list[str], threads: int = 8) -> int:
    """GET every path (a browser opening pages); returns how many did not answer 200."""
    with ThreadPoolExecutor(threads) as pool:
        return sum(1 for status, _ in pool.map(lambda p: get(base + p, timeout=120), paths) if status != 200)


def wait_quiet(procs: Processes, quiet_s: float = 2.0, limit_s: float = 120.0) -> int:
    """Wait until no data() call has started for ``quiet_s``; returns the count."""
    end = time.monotonic() + limit_s
    last, since = procs.data_calls(), time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.5)
        now = procs.data_calls_now()
        if now is None:
            since = time.monotonic()
        elif now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return last


def ms_of(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def fmt(value, unit="", digits=1):
    return "—" if value is None else f"{value:,.{digits}f}{unit}"


# ---------------------------------------------------------------------------------------------- the run

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teams", type=int, default=2000)
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--hubs", type=int, default=200, help="viewed hubs (the streams are spread over them)")
    parser.add_argument("--touch", type=int, default=5000, help="widgets the message should touch")
    parser.add_argument("--push", type=int, default=0,
                        help="also publish the end of a Bodhi push: one update.complete.stable for N people")
    parser.add_argument("--prewarm", type=int, default=500, help="touched widgets nobody views, read before")
    parser.add_argument("--check-views", type=int, default=50, help="touched unviewed widgets read after")
    parser.add_argument("--service-ms", type=float, default=100.0, help="each canned service answer's delay")
    parser.add_argument("--per-host", type=int, default=4, help="hubs.services.per_host")
    parser.add_argument("--fleet", type=int, default=0, help="N hub processes behind HAProxy (0: one, direct)")
    parser.add_argument("--max-wait", type=float, default=90.0, help="longest storm to wait for (s)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the demo-only hub (RSS per widget)")
    parser.add_argument("--logs", type=Path, help="copy the hub processes' logs into this directory")
    args = parser.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the swarm inherits it
    print(f"# Storm benchmark — {time.strftime('%Y-%m-%d %H:%M %Z')} — {machine()}")
    print(f"command: {' '.join(sys.argv)}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")

    services = Services(args.service_ms)
    try:
        run(args, services)
    finally:
        services.stop()
    print(f"\nload average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def run(args, services: Services) -> None:
    extra = hub_config(services.urls, args.per_host)
    fedocal = services.urls["fedocal"]
    baseline = None
    if not args.no_baseline:
        with scratch(lambda dsn: load_demo(dsn, fedocal_url=fedocal), extra) as (procs, _, seconds):
            widgets = procs.healthz()[0]["widgets"]
            baseline = (widgets, procs.rss()[0], seconds)
        print(f"demo data alone: {widgets} widgets, serving in {seconds:.1f} s, RSS {baseline[1]:.0f} MiB")

    def populate(dsn):
        load_demo(dsn, fedocal_url=fedocal)
        started = time.monotonic()
        plan = scale_plan(args.teams, args.people, fedocal_url=fedocal)
        load_scale(dsn, plan)
        print(f"scale data: {args.teams} team + {args.people} personal hubs, {plan.widget_count:,} widgets, "
              f"loaded in {time.monotonic() - started:.1f} s")

    with scratch(populate, extra, args.fleet, args.logs) as (procs, dsn, seconds):
        health = procs.healthz()
        n_widgets = health[0]["widgets"]
        rss_start = procs.rss()
        where = f"{args.fleet} processes behind HAProxy" if args.fleet else "one process"
        print(f"\n## 1. Start-up ({where})")
        print(f"{health[0]['hubs']:,} hubs, {n_widgets:,} widgets: fedmsg-hub start -> /healthz 200 and GET /ralph "
              f"200 in {seconds:.1f} s (target < {START_TARGET_S:.0f} s)")
        print(f"RSS after start: {', '.join(f'{r:.0f}' for r in rss_start)} MiB", end="")
        if baseline:
            per = (rss_start[0] - baseline[1]) / max(1, n_widgets - baseline[0]) * 10000
            print(f"; {per:.1f} MiB per 10,000 widgets (beside {baseline[1]:.0f} MiB with {baseline[0]} widgets)")
        else:
            print()

        # What the message touches, by the hub's own decision over the same rows.
        import fedmsg.config

        from hubs.bus.meta import MessageMeta

        os.chdir(procs.members[0].workdir)  # fedmsg reads ./fedmsg.d: the scratch hub's (meta, bus endpoints)
        started = time.monotonic()
        hubs, widgets, roles = read_rows(dsn)
        meta = MessageMeta(fedmsg.config.load_config([], None, invalidate_cache=True))
        decide = offline_decide(hubs, widgets, roles, meta)
        user_hubs = {h.name for h in hubs if h.user_hub}
        named, hits = choose_storm(decide, sorted(user_hubs), args.touch)
        alone = len(decide(storm_message(["ralph", "mizmo"])))
        pushed = push_messages(pick_pushers(sorted(user_hubs), args.push))
        comment_hits = hits
        touches = dict.fromkeys(hits, 1)  # widget -> how many of the messages touch it
        for m in pushed:
            for i in decide(m):
                touches[i] = touches.get(i, 0) + 1
        push_hits = sorted({i for m in pushed for i in decide(m)})
        hits = tuple(sorted(touches))
        del decide
        by_idx = {w.idx: w for w in widgets}
        hits_by_hub: dict[str, list[int]] = {}
        for idx in hits:
            hits_by_hub.setdefault(by_idx[idx].hub, []).append(idx)

        def by_plugin(idxs) -> str:
            plugins: dict[str, int] = {}
            for idx in idxs:
                plugins[by_idx[idx].plugin] = plugins.get(by_idx[idx].plugin, 0) + 1
            return ', '.join(f'{p} {n}' for p, n in sorted(plugins.items(), key=lambda x: -x[1]))

        print("\n## 2. The storm message")
        print(f"bodhi.update.comment by ralph on mizmo's update, @mentioning {len(named) - 2} people "
              f"(nirik and {len(named) - 3} others): touches {len(comment_hits):,} widgets on "
              f"{len({by_idx[i].hub for i in comment_hits}):,} hubs ({by_plugin(comment_hits)}); "
              f"by ralph and mizmo alone it would touch {alone:,} (computed in {time.monotonic() - started:.1f} s)")
        if pushed:
            print(f"and the end of a Bodhi push, {len(pushed)} bodhi.update.complete.stable (one update each of "
                  f"{len(pushed)} people): touch {len(push_hits):,} widgets ({by_plugin(push_hits)}); together "
                  f"{len(hits):,} widgets on {len(hits_by_hub):,} hubs")

        # Viewers.
        all_hubs = [h.name for h in hubs]
        viewed = pick_viewed({h: len(v) for h, v in hits_by_hub.items()}, user_hubs, all_hubs, args.hubs)
        counts = spread(args.streams, len(viewed))
        streams = dict(zip(viewed, counts, strict=True))
        expected = {h: sorted(hits_by_hub[h]) for h in viewed if h in hits_by_hub}
        viewed_hits = sum(len(v) for v in expected.values())
        layout = {}
        for w in widgets:
            layout.setdefault(w.hub, []).append(w)
        started = time.monotonic()
        paths = [f"/{h}" for h in viewed] + [f"/{h}/{w.idx}/json" for h in viewed for w in layout.get(h, [])]
        failed = read_all(procs.url, paths)
        unviewed_hits = sorted(idx for idx in hits if by_idx[idx].hub not in streams)
        rng = random.Random(7)
        prewarmed = rng.sample(unviewed_hits, min(args.prewarm, len(unviewed_hits) // 2))  # the rest stay cold
        failed += read_all(procs.url, [f"/{by_idx[i].hub}/{i}/json" for i in prewarmed])
        before_quiet = wait_quiet(procs)
        print(f"\nviewers: {args.streams} streams over {len(viewed)} hubs (most viewed: "
              f"{', '.join(f'{h} {n}' for h, n in list(streams.items())[:5])}; fewest {min(counts)}); "
              f"{len(expected)} viewed hubs are touched, with {viewed_hits} touched widgets; "
              f"{len(unviewed_hits):,} touched widgets have no viewer, {len(prewarmed)} of them read earlier")
        print(f"warm-up: {len(paths) + len(prewarmed):,} reads ({failed} not 200) in "
              f"{time.monotonic() - started:.1f} s, {before_quiet:,} data() calls so far")

        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(list(streams.items()), f)
            plan_path = f.name
        swarm = subprocess.Popen([sys.executable, str(HERE / "sse_swarm.py"), str(procs.port), "@" + plan_path],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = read_line(swarm, 120, "stream swarm")
            if line != f"ready {args.streams}":
                raise RuntimeError(f"the stream swarm did not open {args.streams} streams: {line!r}")
            storm(args, procs, services, swarm, streams, expected, viewed, layout, unviewed_hits, prewarmed,
                  hits, by_idx, named, seconds, pushed, touches)
        finally:
            swarm.stdin.close()
            swarm.wait()
            os.unlink(plan_path)


def storm(args, procs, services, swarm, streams, expected, viewed, layout, unviewed_hits, prewarmed, hits,
          by_idx, named, start_s, pushed=(), touches=None) -> None:
    import fedmsg
    import fedmsg.config

    time.sleep(2.0)
    config = fedmsg.config.load_config([], None, invalidate_cache=True)
    config.update(name="test.sender", active=False)
    fedmsg.init(**config)
    time.sleep(1.0)  # let the hub(s) connect to our endpoint

    hot = viewed[0]
    warm = next((w for w in layout[hot] if w.idx not in hits), layout[hot][0])
    targets = [f"page=10={procs.url}/{hot}", f"widget=10={procs.url}/{hot}/{warm.idx}/json"]
    targets += [f"healthz{i}=100={p.url}/healthz" for i, p in enumerate(procs.members, 1)]
    rss_before = procs.rss()
    calls_before, failures_before = procs.data_calls(), procs.builds("failures")
    services.stats(reset=True)
    poller = subprocess.Popen([sys.executable, str(HERE / "storm_poller.py"), *targets],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    read_line(poller, 30, "poller")
    time.sleep(1.0)
    swarm.stdin.write("mark\n")
    swarm.stdin.flush()
    time.sleep(0.05)
    message = storm_message(named)
    t0 = time.time()
    fedmsg.publish(topic="update.comment", modname="bodhi", msg=message["msg"])
    for envelope in pushed:
        fedmsg.publish(topic="update.complete.stable", modname="bodhi", msg=envelope["msg"])
    wanted = sum(streams[h] * len(v) for h, v in expected.items())
    balancer_down = set()
    last, since, settled = calls_before, time.monotonic(), None
    n_events, events_since = 0, time.monotonic()
    while time.time() - t0 < args.max_wait:
        time.sleep(0.5)
        calls = procs.data_calls_now()
        if calls is None:
            since = time.monotonic()
        elif calls != last:
            last, since = calls, time.monotonic()
        for name, status in procs.balancer_status().items():
            if not status.startswith("UP"):
                balancer_down.add(f"{name} {status}")
        if time.time() - t0 < 5.0 or time.monotonic() - since < 2.0:
            continue
        events = ask(swarm, "events")
        if len(events) != n_events:
            n_events, events_since = len(events), time.monotonic()
        seen = {(h, s, i) for h, s, i, v, _, ok, _ in events if ok and v is not None and v >= int(t0 * 1000)}
        # Over: no data() call for 2 s, and every viewer has every widget (or no event came for 3 s).
        if len({k for k in seen if k[2] in expected.get(k[0], ())}) >= wanted or \
                time.monotonic() - events_since >= 3.0:
            settled = time.time() - t0
            break
    window = time.time() - t0
    poller.stdin.write("stop\n")
    poller.stdin.flush()
    polled = json.loads(read_line(poller, 60, "poller results"))
    poller.wait()
    events = ask(swarm, "events")
    closed = ask(swarm, "closed")
    calls_after, failures_after = procs.data_calls(), procs.builds("failures")
    peaks = services.stats()
    rss_after = procs.rss()

    # 3. Reads during the storm.
    print(f"\n## 3. During the storm (publish at t=0; polled from t=-1 s to t={window:.1f} s; "
          f"{'settled' if settled else 'NOT settled'} at {fmt(settled, ' s')})")
    reads_p100, reads_bad = [], 0
    for name in ("page", "widget"):
        window_reads = [s for s in polled[name] if s[0] >= t0 - 1.0]
        ms = [s[1] for s in window_reads]
        reads_p100.append(pct(ms, 100) or 0.0)
        bad = sum(1 for s in window_reads if s[2] != 200)
        reads_bad += bad
        slow = sum(1 for v in ms if v > PAGE_TARGET_MS)
        what = f"GET /{hot}" if name == "page" else f"GET /{hot}/{warm.idx}/json ({warm.plugin}, warm)"
        print(f"{what:<44} {len(ms):5} reads  p50 {fmt(pct(ms, 50), ' ms')}  p99 {fmt(pct(ms, 99), ' ms')}  "
              f"p100 {fmt(pct(ms, 100), ' ms')}  over {PAGE_TARGET_MS:.0f} ms: {slow}  not 200: {bad}")
    health_failed = 0
    for i in range(1, len(procs.members) + 1):
        v = health_verdict(polled[f"healthz{i}"])
        health_failed += v["failed"]
        statuses = f" {v['statuses']}" if v["statuses"] else ""  # status 0: no answer within 30 s
        print(f"/healthz{'' if len(procs.members) == 1 else f' (process {i})'}: {v['samples']} polls, "
              f"max {fmt(v['max_ms'], ' ms')}, not 200: {v['non_200']}{statuses}, slower than the "
              f"{CHECK_TIMEOUT_S:g} s check: {v['slower_than_check']}, "
              f"longest failing stretch {v['longest_failing_s']} s")
    if procs.fleet:
        print(f"HAProxy saw a process not UP: {', '.join(sorted(balancer_down)) or 'never'}")

    # 4. Pushes to viewers.
    result = deliveries(events, expected, streams, t0)
    latest = result["latest"]
    done = [t for t in latest.values() if t is not None]
    missing = sum(1 for t in latest.values() if t is None)
    late = sum(1 for t in done if t > PUSH_TARGET_S)
    print("\n## 4. Viewed touched widgets (publish -> the newer payload on the last stream of its hub)")
    print(f"{len(latest)} widgets on {len(expected)} hubs, {sum(streams[h] for h in expected)} streams: "
          f"p50 {fmt(ms_of(pct(done, 50)), ' ms', 0)}  p99 {fmt(ms_of(pct(done, 99)), ' ms', 0)}  "
          f"max {fmt(ms_of(pct(done, 100)), ' ms', 0)}; within {PUSH_TARGET_S:.0f} s: "
          f"{len(done) - late} of {len(latest)}; "
          f"never (fresh) on some stream: {missing}; events with an error or stale notice: {result['unfresh']}; "
          f"other widget events: {result['stray']}; streams closed: {closed}")
    for problem, count in sorted(result["problems"].items(), key=lambda x: -x[1])[:3]:
        print(f"  {count} events said: {problem}")

    # 5. data() calls.
    caused = calls_after - calls_before
    # A viewed widget that k of the messages touch may be rebuilt up to k times (once per message).
    allowed = sum((touches or {}).get(i, 1) for i in latest)
    per = "one per viewed touched widget" if allowed == len(latest) else \
        f"one per message for each viewed touched widget ({allowed:,})"
    print("\n## 5. data() calls the message caused")
    print(f"{caused:,} data() calls ({'fleet-wide, ' if procs.fleet else ''}/healthz builds.data_calls) for "
          f"{len(hits):,} touched widgets, {len(latest)} of them viewed: {max(0, caused - allowed):,} beyond "
          f"{per} (target 0), i.e. for widgets with no viewer; "
          f"{failures_after - failures_before:,} builds failed (an error or stale payload; outside fetches that "
          f"waited past hubs.services.timeout show here)")

    # 6. Outside services.
    bound = args.per_host * len(procs.members)
    print(f"\n## 6. Outside services during the storm (hubs.services.per_host = {args.per_host} per process: "
          f"at most {bound} in flight per service; each answer after {args.service_ms:.0f} ms)")
    print("  ".join(f"{name}: peak {s['peak']} in flight, {s['requests']} requests" for name, s in peaks.items()),
          f"— over the limit: {', '.join(n for n, s in peaks.items() if s['peak'] > bound) or 'none'}")

    # 7. Memory.
    print(f"\n## 7. RSS before -> after the storm: "
          f"{', '.join(f'{a:.0f} -> {b:.0f} MiB' for a, b in zip(rss_before, rss_after, strict=True))}")

    # 8. Touched widgets nobody viewed, read now.
    sample_warm = prewarmed[:args.check_views // 2]
    cold = [i for i in unviewed_hits if i not in set(prewarmed)]
    sample_cold = random.Random(11).sample(cold, min(len(cold), args.check_views - len(sample_warm)))
    before = procs.data_calls()
    stale = {"warm": 0, "cold": 0}
    for kind, sample in (("warm", sample_warm), ("cold", sample_cold)):
        for idx in sample:
            status, body = get(f"{procs.url}/{by_idx[idx].hub}/{idx}/json", timeout=60)
            payload = json.loads(body) if status == 200 else {}
            if payload.get("version", 0) < int(t0 * 1000) or payload.get("error") or payload.get("stale"):
                stale[kind] += 1
    after_views = procs.data_calls() - before
    print(f"\n## 8. Touched widgets with no viewer, read after the storm: {len(sample_warm)} read before it, "
          f"{len(sample_cold)} never read: not fresh {stale['warm']} + {stale['cold']} (target 0); "
          f"data() calls for these reads: {after_views} (one each if the storm only invalidated them, "
          f"0 if it rebuilt them)")

    print("\n## Targets (issue 19)")
    rows = [
        ("page and warm widget reads p100 <= 50 ms, all 200", f"{max(reads_p100):,.0f} ms, {reads_bad} not 200",
         max(reads_p100) <= PAGE_TARGET_MS and not reads_bad),
        (f"/healthz never fails (not 200, or over {CHECK_TIMEOUT_S:g} s)", f"{health_failed} failed",
         health_failed == 0 and not balancer_down),
        ("every viewed touched widget fresh and pushed within 2 s", f"{len(done) - late} of {len(latest)}",
         not missing and not late),
        ("no data() for touched widgets without a viewer", f"{max(0, caused - allowed):,}",
         caused <= allowed),
        ("... and one data() each when viewed later, fresh", f"{after_views} for {len(sample_warm) + len(sample_cold)}"
         f", {stale['warm'] + stale['cold']} not fresh", not stale["warm"] + stale["cold"]),
        (f"outside requests in flight <= {bound} per service", f"peak {max(p['peak'] for p in peaks.values())}",
         all(p["peak"] <= bound for p in peaks.values())),
        (f"start-up to serving < {START_TARGET_S:.0f} s" + (f" ({len(procs.members)} processes at once)"
                                                             if procs.fleet else ""),
         f"{start_s:.1f} s", start_s < START_TARGET_S),
    ]
    for what, value, met in rows:
        print(f"- {what}: {value} — {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
