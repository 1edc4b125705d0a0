"""The directory wing: hubs, widgets and people held in memory, and the writes that change them.

``directory.py`` loads and re-reads hubs and says what changed; ``editor.py``
validates an owner's edit, commits it and announces it; ``defaults.py`` holds the
widget sets of new hubs.
"""
