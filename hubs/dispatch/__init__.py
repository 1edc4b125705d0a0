"""The dispatch wing: what one bus message means to Hubs.

``handler.py`` decides (junk? a hub changed? which widgets does it touch?, a pure
``decide``) and then does the work; ``hints.py`` is the index from topics,
categories and usernames to candidate widgets.
"""
