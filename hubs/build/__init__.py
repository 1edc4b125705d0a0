"""The build wing: widget payloads.

``states.py`` is what the web layer and the handler call (``WidgetStates``): it
runs a build and emits ``PayloadChanged``. Behind it, each part has one job:
``builder.py`` turns data into payload bytes (pure), ``payloads.py`` keeps
payloads in process state and memcached (``cache.py``) with their versions,
``schedule.py`` retries failures and refreshes ageing data, ``coalesce.py``
keeps one build per cache key in flight and ``lease.py`` one per invalidation
across a fleet; ``render.py``/``markup.py`` turn data into HTML;
``context.py`` is what a widget's ``data()`` may use.
"""
