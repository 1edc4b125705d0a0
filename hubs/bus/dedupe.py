"""Once, whichever way it came: the ids of the messages seen lately.

During the move from fedmsg to Fedora Messaging, bridges copied a message
between the buses with the same id, so one event can arrive twice. The edge
asks ``SeenIds.first_time(message.id)`` and handles the message only when it
answers True. Bounded: the oldest ids are forgotten first (an LRU).
"""

from __future__ import annotations

from collections import OrderedDict


class SeenIds:
    """The last ``capacity`` message ids (pure, bounded memory)."""

    def __init__(self, capacity: int = 10_000):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        self.duplicates = 0

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, message_id: str) -> bool:
        return message_id in self._ids

    def first_time(self, message_id: str) -> bool:
        """True the first time an id is seen (and remembers it); False for a repeat.

        An empty id cannot be compared: it is always a first time.
        """
        if not message_id:
            return True
        if message_id in self._ids:
            self._ids.move_to_end(message_id)
            self.duplicates += 1
            return False
        self._ids[message_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return True
