"""Small helpers shared by widgets."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode


def avatar_url(username: str, size: int = 64) -> str:
    """Libravatar of a Fedora account (what Fedora's own apps show)."""
    digest = hashlib.sha256(f"{username}@fedoraproject.org".encode()).hexdigest()
    return f"https://seccdn.libravatar.org/avatar/{digest}?" + urlencode({"s": size, "d": "retro"})


def message_hub(message: dict[str, Any]) -> str | None:
    """The hub a hubs.* bus message is about, if any."""
    msg = message.get("msg") if isinstance(message, dict) else None
    hub = msg.get("hub") if isinstance(msg, dict) else None
    return hub if isinstance(hub, str) else None
