"""Consumer decisions per second with 1,000 and 100,000 configured widgets.

    make bench-decide     (or: tools/dev.sh bench decide [--widgets 1000 100000])

Runs what each fedmsg message costs before any work: the fedmsg edge (``FedmsgEdge.read``: junk filter,
envelope check, fedmsg.meta's meaning) and the message handler's decision (``MessageHandler.decide``: hint
index, should_invalidate) over the 500-odd real example messages shipped with
fedmsg_meta_fedora_infrastructure. Besides the registered widgets, each
personal hub gets a widget hinted by its owner's username (as the activity
widgets will be), so the username index is exercised.
"""

from __future__ import annotations

import argparse
import random
import time

import fedmsg.config
from common import machine
from corpus import fedora_messages
from twisted.internet import defer
from twisted.internet.task import Clock

from hubs.build.cache import FakeCache
from hubs.bus.meta import MessageMeta
from hubs.bus.publish import FakeBus
from hubs.config import HubsConfig
from hubs.models import Hub
from hubs.service import Hubs
from hubs.testing.harness import make_hubs
from hubs.testing.store import FakeStore
from hubs.widgets import load_registry
from hubs.widgets.base import Hints, WidgetSpec


def user_widget_spec() -> WidgetSpec:
    return WidgetSpec(name="userfeed", module=None, title="Activity", arguments=(),
                      hints=Hints(usernames=lambda w, ctx: [w.config["user"]]), template="about.html", chrome=True,
                      data=lambda ctx, w: {}, should_invalidate=lambda message, ctx, widget: True)


def build_hubs(n_widgets: int, usernames: list[str], meta: MessageMeta) -> Hubs:
    registry = dict(load_registry())
    registry["userfeed"] = user_widget_spec()
    store = FakeStore()
    rng = random.Random(42)
    team_plugins = [("about", {}), ("sticky", {}), ("stats", {}), ("rules", {})]
    n_hubs = max(1, n_widgets // 5)
    for h in range(n_hubs):
        name = f"hub{h}"
        store.add_hub(Hub(name, user_hub=h % 2 == 0))
        for pos, (plugin, config) in enumerate(team_plugins):
            store.add_widget_sync(name, plugin, "left", pos, config)
        if h % 2 == 0:
            user = usernames[h % len(usernames)] if rng.random() < 0.5 else f"user{h}"
            store.add_widget_sync(name, "userfeed", "right", 0, {"user": user})
        else:
            store.add_widget_sync(name, "dummy", "right", 0, {"topic": f"hubs.dummy.{name}"})
    config = HubsConfig.from_fedmsg({"hubs.db.dsn": "x", "hubs.memcached.servers": "127.0.0.1:1"})
    # The fake store answers at once, so the Deferred has fired when this returns.
    d = defer.ensureDeferred(make_hubs(config, store, FakeCache(), FakeBus(), Clock(), registry=registry, meta=meta))
    return d.result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widgets", type=int, nargs="+", default=[1000, 100000])
    parser.add_argument("--passes", type=int, default=10)
    args = parser.parse_args()
    meta = MessageMeta(fedmsg.config.load_config([], None))
    messages = fedora_messages()
    usernames = sorted({u for m in messages for u in meta.usernames(m)})
    print(f"# Decision benchmark — {time.strftime('%Y-%m-%d %H:%M')} — {machine()}")
    print(f"{len(messages)} example messages, {len(usernames)} distinct usernames, {args.passes} passes\n")
    rates = {}
    for n in args.widgets:
        hubs = build_hubs(n, usernames, meta)
        hits = candidates = 0
        start = time.perf_counter()
        for _ in range(args.passes):
            for message in messages:
                before = hubs.handler.stats["candidates"]
                hits += len(hubs.handler.decide(hubs.fedmsg.read(message)).hits)
                candidates += hubs.handler.stats["candidates"] - before
        elapsed = time.perf_counter() - start
        total = args.passes * len(messages)
        rates[n] = total / elapsed
        size = len(hubs.directory.widgets)
        print(f"{size:>7} widgets: {rates[n]:8.0f} msgs/s  ({elapsed / total * 1e6:6.1f} us each; "
              f"{candidates / total:.2f} candidates and {hits / total:.2f} hits per message)")
    if len(rates) >= 2:
        lo, hi = min(rates.values()), max(rates.values())
        print(f"\nratio between sizes: {hi / lo:.2f}x (target: within 2x); slowest {lo:.0f} msgs/s (target >= 5,000)")


if __name__ == "__main__":
    main()
