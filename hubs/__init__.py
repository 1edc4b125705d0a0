"""Hubs: live dashboards for communities that work on the fedmsg bus."""

__version__ = "0.1.0"
