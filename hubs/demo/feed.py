"""The demo feed: a realistic bus message every few seconds, so `make run` shows hubs that move.

Events come from a fixed rotation around the demo hubs' people (badges,
Bodhi comments, Pagure tickets, builds, meetings, account changes, commits),
each in both of its shapes: a fedmsg envelope (``hubs.demo.messages``) and
a Fedora Messaging message of the service's own schema class
(``hubs.demo.schema_messages``). A sender sends one shape: on a bus with
``fedmsg_publisher`` (fedmsg-era topics) or ``amqp_publisher`` (today's topics,
through a Hubs ``AmqpConnection``), or with ``direct_delivery`` straight to the
message handler (no bus).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet import task

from hubs.bus.message import BusMessage, from_amqp
from hubs.demo import messages as M
from hubs.demo import schema_messages as S

log = logging.getLogger(__name__)

DESIGN = ("mizmo", "duffy", "ryanlerch", "decause", "jflory7")
INFRA = ("nirik", "ralph", "puiterwijk", "abompard", "threebean", "sayanchowdhury")
BADGES = ("Origin", "Junior Tagger", "Paranoid Panda", "Bodhi Bot", "Crypto Panda", "Mugshot")
PACKAGES = ("inkscape", "gimp", "fedmsg", "ansible", "python-fedora-messaging", "bodhi", "blender")


@dataclass(frozen=True)
class DemoEvent:
    """One thing that happens, in both bus shapes."""

    kind: str
    fedmsg: dict[str, Any]  # the fedmsg envelope (fedmsg-era topic)
    amqp: Any  # fedora_messaging Message of the service's schema class (today's topic)


def _kinds(n: int, rng: random.Random) -> list[tuple[str, Callable[[], tuple[dict[str, Any], Any]]]]:
    designer, admin = rng.choice(DESIGN), rng.choice(INFRA)
    package, badge = rng.choice(PACKAGES), rng.choice(BADGES)
    number = 100 + n
    return [
        ("badge", lambda: (M.badge_award(designer, badge), S.badge_award(designer, badge))),
        ("bodhi", lambda: (M.bodhi_comment(admin, "ralph", f"{package}-1.{n}-1.fc43", f"FEDORA-2026-{number:04d}",
                                           "Works for me", 1),
                           S.bodhi_comment(admin, "ralph", f"{package}-1.{n}-1.fc43", f"FEDORA-2026-{number:04d}",
                                           "Works for me", 1))),
        ("pagure", lambda: (M.pagure_issue_new(designer, "design", number, f"Artwork request #{number}"),
                            S.pagure_issue(designer, "design", number, f"Artwork request #{number}"))),
        ("build", lambda: (M.build_state_change(admin, package, f"1.{n}"), S.koji_build(admin, package, f"1.{n}"))),
        ("meeting", lambda: (M.meeting_complete(designer, list(DESIGN[:3]), "#fedora-design", "Design team"),
                             S.meetbot_complete(designer, list(DESIGN[:3]), "#fedora-design", "Design team"))),
        ("badge", lambda: (M.badge_award(admin, badge), S.badge_award(admin, badge))),
        ("calendar", lambda: (M.fedocal_meeting_new(designer, "designteam", "Design team weekly"),
                              S.fedocal_meeting_new(designer, "designteam", "Design team weekly"))),
        # fedmsg era: a commit; today: a sponsor adds someone to a FAS group (noggin).
        ("accounts", lambda: (M.git_receive(admin, package, "Update to the latest release"),
                              S.fas_group_sponsor("nirik", admin, "sysadmin-main"))),
    ]


ROTATION = len(_kinds(0, random.Random(0)))  # events before the rotation starts again


def demo_event(n: int, rng: random.Random) -> DemoEvent:
    """The ``n``-th event of the rotation (``rng`` picks the people and names)."""
    kind, make = _kinds(n, rng)[n % ROTATION]
    envelope, message = make()
    return DemoEvent(kind, envelope, message)


def warm_up() -> None:
    """Build each event of the rotation once, in both shapes, and read it as Hubs does (``from_amqp``).

    The first event of each kind loads its schema package and builds its
    validator; done at start-up, before the site is up, no tick of a running
    hub pays a one-time cost (a first tick that did cost ~1.5 s of reactor time).
    """
    rng = random.Random(0)
    for n in range(ROTATION):
        from_amqp(demo_event(n, rng).amqp)


class DemoFeed:
    """Calls ``send(event)`` every ``interval`` seconds of the injected clock."""

    def __init__(self, clock: Any, send: Callable[[DemoEvent], Any], interval: float = 4.0, seed: int = 2015):
        if interval <= 0:
            raise ValueError("interval must be positive (turn the feed off by not starting it)")
        self.clock = clock
        self.send = send
        self.interval = interval
        self.rng = random.Random(seed)
        self.sent = 0
        self.failed = 0
        self._loop = task.LoopingCall(self._tick)
        self._loop.clock = clock

    def start(self) -> None:
        """Start ticking (after ``warm_up``: no tick pays a one-time cost)."""
        if not self._loop.running:
            warm_up()
            log.info("demo feed: a realistic bus message every %.0f s (HUBS_DEMO_FEED=0 turns it off)", self.interval)
            self._loop.start(self.interval, now=False).addErrback(lambda f: log.error("demo feed died: %s", f))

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()

    def _tick(self) -> None:
        event = demo_event(self.sent + self.failed, self.rng)
        try:
            self.send(event)
            self.sent += 1
        except Exception as e:  # a bus that is down must not stop the feed
            self.failed += 1
            log.warning("demo feed: could not send a %s message: %s", event.kind, e)


def _retopic(message: Any, prefix: str) -> Any:
    message.topic = f"{prefix}.{message.topic.split('.', 3)[3]}"
    return message


def fedmsg_publisher() -> Callable[[DemoEvent], None]:
    """Publishes the fedmsg shape with ``fedmsg.publish`` (reactor thread; fedmsg.init done, as Hubs does)."""
    import fedmsg

    def publish(event: DemoEvent) -> None:
        _, _, _, modname, topic = event.fedmsg["topic"].split(".", 4)
        fedmsg.publish(topic=topic, modname=modname, msg=event.fedmsg["msg"])

    return publish


def amqp_publisher(connection: Any, topic_prefix: str = "org.fedoraproject", environment: str = "dev",
                   exchange: str = "amq.topic") -> Callable[[DemoEvent], None]:
    """Publishes today's shape through a ``hubs.bus.amqp.AmqpConnection``, on ``<prefix>.<environment>.*``."""
    prefix = f"{topic_prefix}.{environment}"

    def publish(event: DemoEvent) -> None:
        connection.start()
        d = connection.factory.publish(_retopic(event.amqp, prefix), exchange)
        d.addErrback(lambda f: log.warning("demo feed: AMQP publish failed: %s", f.getErrorMessage()))

    return publish


def direct_delivery(deliver: Callable[[BusMessage], Any], topic_prefix: str = "org.fedoraproject",
                    environment: str = "dev") -> Callable[[DemoEvent], None]:
    """Hands today's shape, as a BusMessage, straight to ``deliver`` (e.g. the message handler): no bus."""
    prefix = f"{topic_prefix}.{environment}"

    def send(event: DemoEvent) -> None:
        d = deliver(from_amqp(_retopic(event.amqp, prefix)))
        if hasattr(d, "addErrback"):
            d.addErrback(lambda f: log.warning("demo feed: handling failed: %s", f.getErrorMessage()))

    return send
