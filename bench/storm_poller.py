"""Poll URLs at fixed intervals from a separate process and record every answer's latency.

    python bench/storm_poller.py NAME=INTERVAL_MS=URL [...]

One thread per URL; each request opens a new connection (as a browser tab or a
balancer's health check does), and the next starts ``INTERVAL_MS`` after the
previous one started, or as soon as it ended if it took longer. Polling starts
at once; a line ``stop`` on stdin ends it and prints, as one JSON line,
``{name: [[wall-clock start, latency ms, status], ...]}`` (status 0: no answer
within 30 s or a connection error).
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit


def poll(url: str, interval: float, out: list, stop: threading.Event) -> None:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    while not stop.is_set():
        started, t0 = time.time(), time.perf_counter()
        status = 0
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            status = response.status
            conn.close()
        except (OSError, http.client.HTTPException):
            pass
        elapsed = time.perf_counter() - t0
        out.append([started, round(elapsed * 1000, 3), status])
        stop.wait(max(0.0, interval - elapsed))


def main() -> None:
    stop = threading.Event()
    results: dict[str, list] = {}
    threads = []
    for spec in sys.argv[1:]:
        name, interval, url = spec.split("=", 2)
        results[name] = []
        threads.append(threading.Thread(target=poll, args=(url, float(interval) / 1000, results[name], stop),
                                        daemon=True))
    for thread in threads:
        thread.start()
    print("polling", flush=True)
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()
    for thread in threads:
        thread.join(15)
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
