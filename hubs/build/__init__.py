"""The build wing: widget payloads.

``states.py`` builds a widget (its ``data()`` and template), installs the payload
in memcached (``cache.py``) and in process state, pushes it to the page streams
and retries failures; ``coalesce.py`` keeps one build per cache key in flight,
``lease.py`` one per invalidation across a fleet; ``render.py``/``markup.py`` turn
data into HTML; ``context.py`` is what a widget's ``data()`` may use.
"""
