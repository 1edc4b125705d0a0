"""What fedmsg.meta says about a message: people, packages, a human subtitle, a link, an icon.

One adapter so the rest of Hubs never calls fedmsg.meta directly, never sees
it raise, and computes a message's usernames once (decisions and the store
both need them).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from hubs.logsafe import quote

log = logging.getLogger(__name__)


class MessageMeta:
    def __init__(self, config: Mapping[str, Any], load_processors: bool = True):
        import fedmsg.meta

        self._meta = fedmsg.meta
        self._config = dict(config)
        # What fedmsg.config.load_config derives; needed when handed a bare dict.
        self._config.setdefault("topic_prefix", "org.fedoraproject")
        self._config.setdefault("topic_prefix_re", self._config["topic_prefix"].replace(".", r"\.") + r"\.[^\W\d_]+")
        if load_processors:
            fedmsg.meta.make_processors(**self._config)
            quiet_fedmsg_meta()
            _quiet_fas_lookups(self._config)
        self._last: tuple[int, frozenset[str]] | None = None
        self._processors: dict[str, Any] = {}  # topic -> the fedmsg.meta processor that handles it
        # What describe() hands each processor call (every call copies it): fedmsg.meta's keys, not Hubs' own.
        self._meta_config = {k: v for k, v in self._config.items() if not k.startswith(("hubs.", "moksha."))}

    def _call(self, name: str, message: Mapping[str, Any], default: Any) -> Any:
        try:
            result = getattr(self._meta, name)(dict(message), **self._config)
        except Exception:
            log.debug("fedmsg.meta.%s failed on %s", name, quote(message.get("topic"), 120), exc_info=True)
            return default
        return default if result is None else result

    def usernames(self, message: Mapping[str, Any]) -> frozenset[str]:
        """The people a message is about (memoised for the message being handled)."""
        if self._last is not None and self._last[0] == id(message):
            return self._last[1]
        names = frozenset(n for n in self._call("msg2usernames", message, ()) if isinstance(n, str))
        self._last = (id(message), names)
        return names

    def packages(self, message: Mapping[str, Any]) -> frozenset[str]:
        return frozenset(p for p in self._call("msg2packages", message, ()) if isinstance(p, str))

    def subtitle(self, message: Mapping[str, Any]) -> str:
        text = self._call("msg2subtitle", message, "")
        return text if isinstance(text, str) and text else message.get("topic", "a message")

    def link(self, message: Mapping[str, Any]) -> str:
        link = self._call("msg2link", message, "")
        return link if isinstance(link, str) and link.startswith(("http://", "https://")) else ""

    def describe(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Usernames, packages, subtitle, link, icon and agent in one pass (for ``hubs.bus.message.from_fedmsg``).

        Each fedmsg.meta call otherwise searches its ~56 processors again (~85 µs
        of the ~110 µs a call costs); here the processor is found once and handed
        to every call. Values are raw (the caller cleans them); a call that raises
        gives its default, logged at debug level only.
        """
        msg = dict(message)
        topic = msg.get("topic")
        try:
            # A processor is chosen by the topic alone (each matches its prefix), and fedmsg.meta's search
            # passes the whole config to each of ~56 processors (a dict copy each): remember it per topic.
            processor = self._processors.get(topic) if isinstance(topic, str) else None
            if processor is None:
                processor = self._meta.msg2processor(msg, **self._meta_config)
                if isinstance(topic, str):
                    if len(self._processors) >= 10_000:
                        self._processors.clear()
                    self._processors[topic] = processor
        except Exception:
            log.debug("fedmsg.meta found no processor for %s", quote(message.get("topic"), 120), exc_info=True)
            processor = None
        out: dict[str, Any] = {}
        for key, name, default in (("usernames", "msg2usernames", ()), ("packages", "msg2packages", ()),
                                   ("subtitle", "msg2subtitle", ""), ("link", "msg2link", ""),
                                   ("icon", "msg2icon", ""), ("agent", "msg2agent", "")):
            try:
                if processor is None:
                    raise LookupError("no processor")
                result = getattr(self._meta, name)(msg, processor=processor, **self._meta_config)
            except Exception:
                log.debug("fedmsg.meta.%s failed on %s", name, quote(message.get("topic"), 120), exc_info=True)
                result = None
            out[key] = default if result is None else result
        return out

    def agent(self, message: Mapping[str, Any]) -> str:
        """Who did it, as fedmsg.meta says (its processors, else the first of its usernames)."""
        agent = self._call("msg2agent", message, "")
        return agent if isinstance(agent, str) else ""

    def icon(self, message: Mapping[str, Any]) -> str:
        icon = self._call("msg2icon", message, "")
        return icon if isinstance(icon, str) and icon.startswith(("http://", "https://")) else ""


class OneLinePerMessage(logging.Filter):
    """fedmsg.meta logs a traceback each time a processor meets a message without a field it expects
    (16 per feed rebuild for one such stored message). Keep one line per message id, once, no traceback."""

    def __init__(self, remember: int = 4096):
        super().__init__()
        self.remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or not isinstance(record.msg, str) or " failed on " not in record.msg:
            return True
        message_id = record.msg.rsplit(" failed on ", 1)[1]
        if message_id in self._seen:
            return False
        self._seen[message_id] = None
        if len(self._seen) > self.remember:
            self._seen.popitem(last=False)
        error = record.exc_info[1]
        record.msg, record.args = "fedmsg.meta cannot read message %s (%s: %s); shown without its meaning", (
            message_id, type(error).__name__, error)
        record.exc_info, record.exc_text, record.levelno, record.levelname = None, None, logging.WARNING, "WARNING"
        return True


def quiet_fedmsg_meta() -> None:
    """Install ``OneLinePerMessage`` on fedmsg.meta's logger (once)."""
    logger = logging.getLogger("fedmsg.meta")
    if not any(isinstance(f, OneLinePerMessage) for f in logger.filters):
        logger.addFilter(OneLinePerMessage())


def _quiet_fas_lookups(config: Mapping[str, Any]) -> None:
    """Without FAS credentials, fedmsg_meta_fedora_infrastructure tries to rebuild its
    email->username cache on every lookup and logs two warnings each time. Give it
    a non-empty cache so it answers from it (unknown emails stay unresolved)."""
    if config.get("fas_credentials") or config.get("fasjson"):
        return
    try:
        from fedmsg_meta_fedora_infrastructure import fasshim
    except ImportError:
        return
    if not fasshim._fas_cache:
        fasshim._fas_cache = {"\0no-fas-configured": ""}
