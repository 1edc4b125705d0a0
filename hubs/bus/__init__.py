"""The bus wing: messages in and out.

Each edge turns what a bus delivers into one ``BusMessage`` (``message.py``) —
fedmsg envelopes (``fedmsg.py``, meaning from ``meta.py``) and Fedora Messaging
messages (``amqp/``, meaning from schema classes) alike — and nothing behind
the edges sees anything else. ``publish.py`` sends Hubs' own change messages
(``schemas.py``); ``dedupe.py`` remembers ids so a bridged message counts once.
"""
