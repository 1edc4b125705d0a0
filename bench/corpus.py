"""Real message shapes: the example messages shipped in fedmsg_meta_fedora_infrastructure's tests."""

from __future__ import annotations

import importlib
import pkgutil


def fedora_messages() -> list[dict]:
    import fedmsg_meta_fedora_infrastructure.tests as examples

    messages = []
    for info in pkgutil.iter_modules(examples.__path__):
        try:
            module = importlib.import_module(f"{examples.__name__}.{info.name}")
        except Exception:  # a few example modules need optional packages
            continue
        for name in dir(module):
            msg = getattr(getattr(module, name), "msg", None)
            if isinstance(msg, dict) and isinstance(msg.get("topic"), str) and msg["topic"].count(".") >= 3:
                messages.append(msg)
    return messages
