"""The demo: demo hubs and people, realistic bus messages, the demo feed and the canned Fedora services.

Used by ``make run`` and by tests; production code imports it only when the demo
feed is switched on (``hubs.demo_feed.interval``).
"""
