"""Open-files limit: each open page holds one socket (its EventSource).

``fedmsg-hub`` sets RLIMIT_NOFILE to (4096, 4096) before it loads consumers,
lowering the hard limit too, which an unprivileged process can never raise
again. ``fedmsg.d/hubs.py`` calls :func:`keep_fedmsg_hub_from_lowering` (the
config is read before that happens) and the consumer then calls
:func:`raise_open_files_limit`.
"""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)


def keep_fedmsg_hub_from_lowering(limit: int) -> None:
    """Make fedmsg-hub ask for ``limit`` instead of 4096 (if refused, it keeps the current limits)."""
    try:
        from fedmsg.commands.hub import HubCommand
    except ImportError:  # fedmsg's commands not installed: nothing to fix
        return
    HubCommand.set_rlimit_nofiles.__defaults__ = (int(limit),)


def raise_open_files_limit(wanted: int) -> int:
    """Raise the soft limit towards ``wanted`` (as far as the hard limit allows); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as e:
        log.warning("could not raise the open files limit: %s", e)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < wanted:
        log.warning("open files limited to %d (wanted %d): at most about %d open pages", soft, wanted, soft - 100)
    else:
        log.info("open files limit is %d", soft)
    return soft
