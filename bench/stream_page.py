"""The stream page's own costs in Chromium: first draw, a live item, a triage click, as the list grows.

    tools/dev.sh bench stream_page [--shown 50 500 2000] [--rounds 100]

What this measures is the page (hubs/static/stream*.js), not the server: the page is served by a stand-in of
the contract's JSON and event stream inside this script (the real one is measured by bench/stream.py). Chromium
(Debian's, headless) opens /stream; with 50, 500 and 2,000 items shown ("Load more" until then) the stand-in
pushes `stream-item` events one at a time, each stamped with the time it was written to the socket; the page
records when the card is in the document (a MutationObserver installed before the page's scripts). Latency =
card in the document - written (same machine, same clock). Also: the first 50 cards drawn after the page's
scripts start, and a click on "Mark read" → the card says "Read" (the page changes it before the server answers).
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from hubs.build.render import make_environment  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
AGENTS = ["ralph", "mizmo", "adamw", "kevin", "nirik", "pingou", "decathorpe", "churchyard"]
RECORDER = """
window.__arrived = {};
new MutationObserver(records => {
  const now = Date.now();
  for (const r of records) for (const n of r.addedNodes) {
    if (n.nodeType !== 1) continue;
    // A card can come inside a new group (several about one thing): the group is what is added.
    for (const c of [n, ...n.querySelectorAll('[data-id]')])
      if (c.dataset && c.dataset.id && !(c.dataset.id in window.__arrived)) window.__arrived[c.dataset.id] = now;
  }
}).observe(document, {childList: true, subtree: true});
"""


def item(i: int, now: float) -> dict:
    agent = AGENTS[i % len(AGENTS)]
    package = f"python-pkg{i % 40}"
    link = f"https://bodhi.example/{i // 10}" if i % 10 < 3 else f"https://bodhi.example/u{i}"  # some in threes
    return {"id": i, "unread": True, "saved": False, "done": False, "snoozed_until": None,
            "reasons": [{"kind": "package", "name": package, "text": f"because you maintain {package}"}],
            "group": link,
            "message": {"id": f"m{i}", "topic": "org.fedoraproject.prod.bodhi.update.comment", "category": "bodhi",
                        "time": now - (10_000 - i) * 60, "summary": f"{agent} commented on {package}-1.0-1.fc43",
                        "link": link, "icon": "", "agent": agent,
                        "usernames": [agent], "packages": [package]}}


class StandIn:
    """The contract's JSON and event stream for one person with ``count`` items (ids 1..count)."""

    def __init__(self, count: int):
        now = time.time()
        self.items = [item(i, now) for i in range(count, 0, -1)]
        self.listeners: list[queue.Queue] = []
        self.env = make_environment()

    def page(self, before: int | None, limit: int) -> dict:
        rows = [i for i in self.items if before is None or i["id"] < before][:limit]
        return {"items": rows, "next": str(rows[-1]["id"]) if len(rows) == limit else None,
                "counts": {"unread": len(self.items), "needs_me": len(self.items)}}

    def push(self, new: dict) -> None:
        for q in list(self.listeners):
            q.put(new)

    def handler(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def send(self, body: bytes, kind: str = "application/json") -> None:
                self.send_response(200)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urlparse(self.path)
                args = parse_qs(url.query)
                if url.path.startswith("/static/"):
                    path = ROOT / "hubs" / "static" / url.path[len("/static/"):]
                    kind = {".js": "application/javascript", ".css": "text/css"}.get(path.suffix, "image/svg+xml")
                    return self.send(path.read_bytes(), kind)
                if url.path == "/stream":
                    first = stand_in.page(None, 50)
                    html = stand_in.env.get_template("stream.html").render(username="ralph", csrf="t", **first)
                    return self.send(html.encode(), "text/html; charset=utf-8")
                if url.path == "/api/stream":
                    before = int(args["before"][0]) if "before" in args else None
                    return self.send(json.dumps(stand_in.page(before, int(args.get("limit", ["50"])[0]))).encode())
                if url.path == "/api/me":
                    return self.send(b'{"username": "ralph", "via": "session", "csrf": "t"}')
                if url.path in ("/api/follows", "/api/stream/filters"):
                    return self.send(b'{"follows": [], "filters": []}')
                if url.path == "/stream/events":
                    return self.events()
                self.send_response(404)
                self.send_header("content-length", "0")
                self.end_headers()

            def events(self):
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("cache-control", "no-cache")
                self.end_headers()
                q: queue.Queue = queue.Queue()
                stand_in.listeners.append(q)
                try:
                    self.wfile.write(b'event: keepalive\ndata: {"every": 15}\n\n')
                    self.wfile.flush()
                    while True:
                        try:
                            new = q.get(timeout=5)
                        except queue.Empty:
                            self.wfile.write(b'event: keepalive\ndata: {"every": 15}\n\n')
                            self.wfile.flush()
                            continue
                        new["message"]["written"] = time.time() * 1000
                        frame = f"id: {new['id']}\nevent: stream-item\ndata: {json.dumps(new)}\n\n".encode()
                        self.wfile.write(frame)
                        self.wfile.flush()
                except OSError:
                    pass
                finally:
                    stand_in.listeners.remove(q)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send(b'{"changed": 1, "counts": {"unread": 1, "needs_me": 1}}')

        return Handler


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shown", type=int, nargs="+", default=[50, 500, 2000])
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    stand_in = StandIn(max(args.shown) + 50)
    server = ThreadingHTTPServer(("127.0.0.1", 0), stand_in.handler())
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/stream"
    next_id = 1_000_000
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        firsts, ready = [], []
        for _ in range(5):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url)
            page.wait_for_function("() => document.querySelectorAll('.stream-list > li').length >= 10")
            firsts.append(page.evaluate("() => performance.now()"))
            ready.append(page.evaluate("() => performance.getEntriesByType('navigation')[0].domInteractive"))
            page.close()
        print(f"first page (50 items) drawn, ms from navigation start: p50 {statistics.median(firsts):.0f}, "
              f"max {max(firsts):.0f} (the document itself interactive at p50 {statistics.median(ready):.0f})")
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.add_init_script(RECORDER)
        page.goto(url)
        page.wait_for_function("() => window.streamPage && window.streamPage.items().length >= 50")
        page.wait_for_function("() => document.body.getAttribute('data-live') === 'live'")
        for shown in args.shown:
            while page.evaluate("() => window.streamPage.items().length") < shown:
                have = page.evaluate("() => window.streamPage.items().length")
                page.evaluate("() => document.getElementById('load-more').click()")
                page.wait_for_function("n => window.streamPage.items().length > n", arg=have)
            latencies = []
            for _ in range(args.rounds):
                next_id += 1
                new = item(next_id, time.time())
                stand_in.push(new)
                page.wait_for_function("id => id in window.__arrived", arg=str(next_id), polling=5)
                written = page.evaluate("id => window.streamPage.items().find(i => i.id === id).message.written",
                                        next_id)
                latencies.append(page.evaluate("id => window.__arrived[id]", str(next_id)) - written)
            cards = page.evaluate("() => document.querySelectorAll('.stream-item').length")
            redraws = [page.evaluate("""() => { const t = performance.now(); window.streamPage.draw();
                document.body.getBoundingClientRect(); return performance.now() - t; }""") for _ in range(20)]
            clicks = []
            for _ in range(20):
                button = page.locator(".stream-list > .stream-item.unread [data-act=unread]").first
                card_id = button.evaluate("b => b.closest('.stream-item').id")
                start = page.evaluate("() => performance.now()")
                button.click()
                page.wait_for_function("id => !document.getElementById(id).classList.contains('unread')", arg=card_id,
                                       polling="raf")
                clicks.append(page.evaluate("() => performance.now()") - start)
            print(f"{shown:>5} items shown ({cards} cards): live item written → card in the page, ms: "
                  f"p50 {statistics.median(latencies):.1f}, p99 {pct(latencies, 99):.1f}, max {max(latencies):.1f}; "
                  f"one redraw of the list (JS + layout) p50 {statistics.median(redraws):.1f}; "
                  f"Mark read click → card read (incl. Playwright's round trip): p50 {statistics.median(clicks):.1f}, "
                  f"max {max(clicks):.1f}")
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main()
