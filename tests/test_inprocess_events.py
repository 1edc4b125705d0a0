"""In-process events (hubs.events): typed events, one dispatcher, every subscription made in hubs.service.build."""

import logging

import pytest

from hubs.events import Events, HubChanged, LayoutChanged, PayloadChanged


class Other(HubChanged):
    """A subclass: listeners of HubChanged do not hear it (dispatch is by exact type)."""


# (subscriptions as (event type, listener name), the event emitted, the listener names called in order)
CASES = [
    ([], PayloadChanged("a", 1, b"{}", 1), []),
    ([(PayloadChanged, "p1")], PayloadChanged("a", 1, b"{}", 1), ["p1"]),
    ([(PayloadChanged, "p1"), (PayloadChanged, "p2")], PayloadChanged("a", 1, b"{}", 1), ["p1", "p2"]),
    ([(PayloadChanged, "p2"), (PayloadChanged, "p1")], PayloadChanged("a", 1, b"{}", 1), ["p2", "p1"]),
    ([(LayoutChanged, "l"), (PayloadChanged, "p")], LayoutChanged("a", b"{}"), ["l"]),
    ([(LayoutChanged, "l"), (PayloadChanged, "p")], PayloadChanged("a", 1, b"{}", 1), ["p"]),
    ([(HubChanged, "h")], Other("a", None, False), []),
    ([(PayloadChanged, "p1"), (PayloadChanged, "boom"), (PayloadChanged, "p2")],
     PayloadChanged("a", 1, b"{}", 1), ["p1", "boom", "p2"]),
    ([(PayloadChanged, "p1"), (PayloadChanged, "p1")], PayloadChanged("a", 1, b"{}", 1), ["p1", "p1"]),
]


@pytest.mark.parametrize(("subscriptions", "event", "called"), CASES)
def test_an_event_reaches_the_listeners_of_its_type_in_order(subscriptions, event, called, caplog):
    """Listeners of the event's exact type are called in subscription order; one that raises is logged and the
    others still run."""
    events, heard = Events(), []

    def listener(name):
        def hear(e):
            heard.append(name)
            assert e is event
            if name == "boom":
                raise RuntimeError("a listener broke")
        hear.__qualname__ = name
        return hear

    for event_type, name in subscriptions:
        events.subscribe(event_type, listener(name))
    with caplog.at_level(logging.ERROR, logger="hubs.events"):
        events.emit(event)
    assert heard == called
    failures = [r.getMessage() for r in caplog.records if r.name == "hubs.events"]
    assert failures == (["boom failed on PayloadChanged"] if "boom" in called else [])


def test_a_listener_subscribed_while_an_event_is_emitted_hears_only_the_next_one():
    """Listeners are called from a copy: one added during an emit is not called for that event."""
    events, heard = Events(), []

    def first(e):
        heard.append(("first", e.hub))
        if len(heard) == 1:
            events.subscribe(LayoutChanged, lambda e: heard.append(("late", e.hub)))

    events.subscribe(LayoutChanged, first)
    events.emit(LayoutChanged("a", b""))
    events.emit(LayoutChanged("b", b""))
    assert heard == [("first", "a"), ("first", "b"), ("late", "b")]


def test_events_are_frozen_values():
    """Events are frozen: a listener cannot change what the next one hears."""
    import dataclasses

    event = PayloadChanged("a", 1, b"{}", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.version = 2


def test_build_wires_every_subscription_in_one_place(hubs):
    """A whole Hubs: widget states, the memberships (the hub's people) and the stream's index hear hub changes;
    the broadcaster hears layouts and payloads; nothing else."""
    from hubs.stream.upkeep import track_hub_people

    states, people, stream = hubs.events.listeners(HubChanged)
    assert stream == hubs.keeper.hub_changed
    assert states == hubs.states.hub_changed
    assert people.func is track_hub_people and people.args == (hubs.directory, hubs.memberships)
    assert hubs.events.listeners(LayoutChanged) == (hubs.streams.on_layout,)
    assert hubs.events.listeners(PayloadChanged) == (hubs.streams.on_payload,)
    assert hubs.directory.events is hubs.events and hubs.states.events is hubs.events
