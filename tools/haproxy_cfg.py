"""Render deploy/haproxy.cfg.in for a fleet of Hubs processes (`make fleet`, tests/fleet.py).

    python tools/haproxy_cfg.py --bind 127.0.0.1:5000 127.0.0.1:5001 127.0.0.1:5002 > haproxy.cfg
"""

from __future__ import annotations

import argparse
import resource
import string
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "haproxy.cfg.in"


def default_maxconn(hard_limit: int | None = None) -> int:
    """As many connections as an open-files limit allows (two sockets each, 200 spare), 100 to 50,000."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1] if hard_limit is None else hard_limit
    return 50_000 if hard == resource.RLIM_INFINITY else max(100, min(50_000, (hard - 200) // 2))


def render(bind: str, servers: list[str], maxconn: int | None = None, stats_socket: str | None = None) -> str:
    """The configuration for ``servers`` ("host:port", named hub1, hub2, ...) behind ``bind``."""
    maxconn = maxconn or default_maxconn()
    lines = [f"    server hub{i} {address} check" for i, address in enumerate(servers, 1)]
    extra = f"    stats socket {stats_socket} mode 600 level admin" if stats_socket else ""
    return string.Template(TEMPLATE.read_text()).substitute(
        bind=bind, servers="\n".join(lines), maxconn=maxconn, extra_global=extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bind", default="127.0.0.1:5000")
    parser.add_argument("--maxconn", type=int, help="default: what the open-files limit allows, at most 50,000")
    parser.add_argument("--stats-socket")
    parser.add_argument("servers", nargs="+", help="host:port of each hub process")
    args = parser.parse_args()
    print(render(args.bind, args.servers, args.maxconn, args.stats_socket), end="")


if __name__ == "__main__":
    main()
