"""Hold N EventSource streams open on one hub (or many) and time the arrival of widget events.

    python bench/sse_swarm.py PORT HUB N
    python bench/sse_swarm.py PORT @PLAN.json     (PLAN: [[hub, streams], ...]; widget events are read)
    python bench/sse_swarm.py PORT %TOKENS.json   (people's own /stream/events, one per API token; times the
                                                   first ``stream-item`` of each since the mark)

Speaks minimal HTTP over non-blocking sockets in one epoll loop (cheap per
stream, so the client measures the hub rather than itself). Commands on stdin:
``mark`` starts a round; ``report`` prints, as one JSON line, the wall-clock
time at which each stream saw its first ``event: widget`` since the mark.
Prints ``ready <n>`` once every stream has received its hello event.

With a plan, the streams' bodies are decoded (chunked transfer, SSE events)
and ``events`` prints, as one JSON line, every widget event since the mark:
``[hub, stream number, widget idx, payload version, wall-clock time, fresh, problem]`` (fresh:
the payload carries neither an error nor a stale notice; problem: the error's first 100 characters);
``closed`` prints how many streams the hub has closed.
"""

import json
import os
import select
import socket
import sys
import time

port = int(sys.argv[1])
tokens = None
if sys.argv[2].startswith("%"):
    with open(sys.argv[2][1:]) as f:
        tokens = json.load(f)
    plan = [("", len(tokens))]
    decode = False
elif sys.argv[2].startswith("@"):
    with open(sys.argv[2][1:]) as f:
        plan = [(hub, int(count)) for hub, count in json.load(f)]
    decode = True
else:
    plan = [(sys.argv[2], int(sys.argv[3]))]
    decode = False
n = sum(count for _, count in plan)

ep = select.epoll()
socks = {}
requests = {}  # fd -> request bytes
hubs = {}  # fd -> (hub, stream number)
hello = set()
seen = {}
marked = False
closed = 0
# Decoding (plan mode): per fd, raw bytes not yet de-chunked, whether headers are done, SSE text pending.
raw = {}
headers_done = set()
pending = {}
events = []


def open_one(hub, number):
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    socks[s.fileno()] = s
    if tokens is not None:
        requests[s.fileno()] = ("GET /stream/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                f"Authorization: Bearer {tokens[number]}\r\n"
                                "Accept: text/event-stream\r\n\r\n").encode()
    else:
        requests[s.fileno()] = (f"GET /{hub}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                "Accept: text/event-stream\r\n\r\n").encode()
    hubs[s.fileno()] = (hub, number)
    raw[s.fileno()] = b""
    pending[s.fileno()] = b""
    ep.register(s.fileno(), select.EPOLLOUT)


def dechunk(fd):
    """Move complete chunks of ``raw[fd]`` to ``pending[fd]`` (the SSE text)."""
    buf = raw[fd]
    if fd not in headers_done:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        headers_done.add(fd)
        buf = buf[end + 4:]
    out = []
    while True:
        line_end = buf.find(b"\r\n")
        if line_end < 0:
            break
        size = int(buf[:line_end].split(b";")[0] or b"0", 16)
        if len(buf) < line_end + 2 + size + 2:
            break
        out.append(buf[line_end + 2:line_end + 2 + size])
        buf = buf[line_end + 2 + size + 2:]
    raw[fd] = buf
    if out:
        pending[fd] += b"".join(out)


def sse_events(fd, now):
    """Parse complete SSE events of ``pending[fd]``; note hello and, after a mark, widget events."""
    text = pending[fd]
    while True:
        end = text.find(b"\n\n")
        if end < 0:
            break
        block, text = text[:end], text[end + 2:]
        kind, data = "message", []
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                kind = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
        if kind == "hello":
            hello.add(fd)
        elif kind == "widget" and marked and data:
            try:
                payload = json.loads(b"\n".join(data))
                hub, number = hubs[fd]
                stale = payload.get("stale") if isinstance(payload.get("stale"), dict) else {}
                problem = payload.get("error") or stale.get("error") or ("stale" if payload.get("stale") else "")
                events.append([hub, number, payload.get("idx"), payload.get("version"), now, not problem,
                               str(problem)[:100]])
            except ValueError:
                pass
    pending[fd] = text


for hub, count in plan:
    for number in range(count):
        open_one(hub, number)
pending_send = set(socks)
ep.register(sys.stdin.fileno(), select.EPOLLIN)
announced = False
stdin_buf = b""

while True:
    for fd, mask in ep.poll(1.0):
        if fd == sys.stdin.fileno():
            data = os.read(fd, 4096)
            if not data:
                sys.exit(0)
            stdin_buf += data
            while b"\n" in stdin_buf:
                line, stdin_buf = stdin_buf.split(b"\n", 1)
                if line == b"mark":
                    seen.clear()
                    events.clear()
                    marked = True
                elif line == b"report":
                    print(json.dumps(list(seen.values())), flush=True)
                elif line == b"events":
                    print(json.dumps(events), flush=True)
                elif line == b"closed":
                    print(json.dumps(closed), flush=True)
            continue
        s = socks[fd]
        if fd in pending_send and mask & select.EPOLLOUT:
            s.send(requests[fd])
            pending_send.discard(fd)
            ep.modify(fd, select.EPOLLIN)
            continue
        try:
            chunk = s.recv(65536)
        except (BlockingIOError, InterruptedError):
            continue
        except ConnectionError:
            chunk = b""
        now = time.time()
        if not chunk:
            ep.unregister(fd)
            del socks[fd]
            closed += 1
            continue
        if decode:
            raw[fd] += chunk
            dechunk(fd)
            sse_events(fd, now)
            continue
        if fd not in hello and (b"event: hello" in chunk or b"event: stream-count" in chunk):
            hello.add(fd)
        if marked and fd not in seen and (b"event: widget" in chunk or b"event: stream-item" in chunk):
            seen[fd] = now
    if not announced and len(hello) == n:
        announced = True
        print(f"ready {n}", flush=True)
