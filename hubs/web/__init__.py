"""The web wing: the Klein site (``site.py`` composes the route groups), the HTTP channel
(``server.py``) and the event streams (``sse.py``)."""
