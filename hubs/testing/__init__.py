"""Test helpers shipped with Hubs: the harness that wires a whole Hubs as production does, and ``FakeStore``."""
