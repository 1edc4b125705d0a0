"""A person's stream: what on the bus concerns them, why, and their triage of it (issue 16).

``concern`` decides who a message concerns (pure, index lookups only); ``model`` holds the plain
values (reasons, items, queries) and the pure rules of views and filters; ``push`` keeps each
person's open EventSource streams; ``triage`` applies a person's changes and tells the fleet.
Who maintains what and who is in which group: a ``Memberships`` (``hubs.stream.memberships``; its
``StaticMemberships`` for tests, benchmarks and the demo data).
"""
