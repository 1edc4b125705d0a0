"""Hold N EventSource streams open on one hub and time the arrival of widget events.

    python bench/sse_swarm.py PORT HUB N

Speaks minimal HTTP over non-blocking sockets in one epoll loop (cheap per
stream, so the client measures the hub rather than itself). Commands on stdin:
``mark`` starts a round; ``report`` prints, as one JSON line, the wall-clock
time at which each stream saw its first ``event: widget`` since the mark.
Prints ``ready <n>`` once every stream has received its hello event.
"""

import json
import os
import select
import socket
import sys
import time

port, hub, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
REQUEST = (f"GET /{hub}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n").encode()

ep = select.epoll()
socks = {}
hello = set()
seen = {}
marked = False


def open_one():
    s = socket.socket()
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    socks[s.fileno()] = s
    ep.register(s.fileno(), select.EPOLLOUT)


for _ in range(n):
    open_one()
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
                    marked = True
                elif line == b"report":
                    print(json.dumps(list(seen.values())), flush=True)
            continue
        s = socks[fd]
        if fd in pending_send and mask & select.EPOLLOUT:
            s.send(REQUEST)
            pending_send.discard(fd)
            ep.modify(fd, select.EPOLLIN)
            continue
        try:
            chunk = s.recv(65536)
        except (BlockingIOError, InterruptedError):
            continue
        now = time.time()
        if not chunk:
            ep.unregister(fd)
            del socks[fd]
            continue
        if fd not in hello and b"event: hello" in chunk:
            hello.add(fd)
        if marked and fd not in seen and b"event: widget" in chunk:
            seen[fd] = now
    if not announced and len(hello) == n:
        announced = True
        print(f"ready {n}", flush=True)
