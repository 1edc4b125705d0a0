"""The web site (see ``site.py``); ``HubsWeb`` is what the service serves."""

from hubs.web.common import MAX_BODY, RESERVED_NAMES, BadRequest, Forbidden, Unauthorized, Unavailable
from hubs.web.site import HubsWeb

__all__ = ["MAX_BODY", "RESERVED_NAMES", "BadRequest", "Forbidden", "HubsWeb", "Unauthorized", "Unavailable"]
