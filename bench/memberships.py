"""Memberships at Fedora's size: building, answering, a bus change, a refresh round.

    tools/dev.sh bench memberships [--people 50000] [--http-people 300]

- ``StaticMemberships`` of N people (each in 1–3 of 2,000 groups of 5–15 packages, 4–16 direct packages of
  30,000: about 30 packages a person): the time to build it and its memory;
- the answers a concern index asks per message (``maintainers_of``, ``members_of``, ``groups_of``,
  ``packages_of``): median and p99 per call;
- ``apply_message`` of a sponsor message (the group's packages join at once);
- one refresh round over N/5 people with fakes that answer at once: the CPU a round costs per person;
- one refresh round over a few hundred people through the real clients and the canned FASJSON and dist-git,
  in-process, over real HTTP (4 people at a time, 4 fetches per host).

Prints figures; no assertions (``bench/RESULTS.md`` keeps them).
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import time

from common import machine
from twisted.internet import defer, task

from hubs.bus.message import BusMessage
from hubs.services.distgit import DistGitClient, FakeDistGit
from hubs.services.fasjson import FakeFasJson, FasJsonClient
from hubs.services.http import TreqClient
from hubs.stream.memberships import Memberships, StaticMemberships


def tables(people: int, seed: int = 16):
    rng = random.Random(seed)
    packages = [f"pkg-{n}" for n in range(30_000)]
    groups = {f"group-{n}": rng.sample(packages, rng.randint(5, 15)) for n in range(2_000)}
    names = list(groups)
    person_groups = {f"user{n}": rng.sample(names, rng.randint(1, 3)) for n in range(people)}
    direct = {f"user{n}": rng.sample(packages, rng.randint(4, 16)) for n in range(people)}
    return person_groups, direct, groups


def per_call(fn, args, repeat: int = 5) -> tuple[float, float]:
    """Median and p99 of one call, in µs (each sample is the mean of ``repeat`` calls)."""
    samples = []
    for arg in args:
        started = time.perf_counter_ns()
        for _ in range(repeat):
            fn(arg)
        samples.append((time.perf_counter_ns() - started) / repeat / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99)]


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def static(people: int) -> None:
    person_groups, direct, groups = tables(people)
    gc.collect()
    before = rss_mib()
    started = time.perf_counter()
    memberships = StaticMemberships(person_groups, direct, groups)
    built = time.perf_counter() - started
    gc.freeze()  # as a running hub does after its start (hubs/consumer.py)
    things = sum(len(memberships.packages_of(p)) for p in person_groups) / people
    print(f"StaticMemberships of {people:,} people ({things:.0f} packages a person): built in {built:.2f} s, "
          f"max RSS +{rss_mib() - before:.0f} MiB")
    rng = random.Random(1)
    packages = [f"pkg-{rng.randrange(30_000)}" for _ in range(20_000)]
    users = [f"user{rng.randrange(people)}" for _ in range(20_000)]
    group_names = [f"group-{rng.randrange(2_000)}" for _ in range(20_000)]
    for name, fn, args in (("maintainers_of", memberships.maintainers_of, packages),
                           ("members_of", memberships.members_of, group_names),
                           ("groups_of", memberships.groups_of, users),
                           ("packages_of", memberships.packages_of, users)):
        median, p99 = per_call(fn, args)
        print(f"  {name:15} median {median:.2f} µs, p99 {p99:.2f} µs")
    timings = []
    for n in range(2_000):
        user, group = f"user{rng.randrange(people)}", f"group-{rng.randrange(2_000)}"
        message = BusMessage(topic="org.fedoraproject.prod.fas.group.member.sponsor", id=str(n), time=0.0,
                             body={"msg": {"agent": "admin", "user": user, "group": group}})
        started = time.perf_counter_ns()
        memberships.apply_message(message)
        timings.append((time.perf_counter_ns() - started) / 1000)
    timings.sort()
    print(f"  apply_message (sponsor) median {statistics.median(timings):.1f} µs, "
          f"p99 {timings[int(len(timings) * 0.99)]:.1f} µs")


def fake_round(people: int) -> None:
    person_groups, direct, groups = tables(people)
    fas = FakeFasJson(person_groups)
    git = FakeDistGit(direct, groups, person_groups)
    clock = task.Clock()
    memberships = Memberships(fas, git, clock, concurrency=4)
    memberships.track(person_groups)
    started = time.process_time()
    d = defer.ensureDeferred(memberships.refresh())
    took = time.process_time() - started
    assert d.called
    print(f"refresh round over {people:,} people, fakes answering at once: {took:.2f} s CPU "
          f"({took / people * 1e6:.0f} µs a person, {fas.calls + git.calls:,} questions)")
    started = time.process_time()
    defer.ensureDeferred(memberships.refresh())
    took = time.process_time() - started
    print(f"  again, nothing changed: {took:.2f} s CPU ({took / people * 1e6:.0f} µs a person)")


async def http_round(reactor, people: int) -> None:
    from twisted.web.server import Site

    from hubs.demo.services import CannedServices

    site = Site(CannedServices().app.resource())
    site.log = lambda request: None
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    base = f"http://127.0.0.1:{port.getHost().port}"
    try:
        http = TreqClient(reactor, 10.0, per_host=4)
        memberships = Memberships(FasJsonClient(http, base), DistGitClient(http, base), reactor, concurrency=4)
        memberships.track(f"person{n}" for n in range(people))
        started = time.monotonic()
        await memberships.refresh()
        took = time.monotonic() - started
        print(f"refresh round over {people} people, real clients and the canned services in this process "
              f"(server and client share one core): {took:.2f} s ({took / people * 1000:.1f} ms a person)")
    finally:
        await port.stopListening()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--http-people", type=int, default=300)
    args = parser.parse_args()
    print(machine())
    static(args.people)
    fake_round(args.people // 5)
    task.react(lambda reactor: defer.ensureDeferred(http_round(reactor, args.http_people)))


if __name__ == "__main__":
    main()
