# Hubs settings. Every key -- its default, its HUBS_* variable, what it means and what it must
# be -- is declared once, in hubs/config.py (SETTINGS); the README's "Configuration" table is
# generated from it (python -m hubs.config --markdown). Environment variables override the
# development defaults, so that the run command can point the hub at a private PostgreSQL
# cluster and memcached. To change a key here, assign it below: config["hubs.web.port"] = 8000.
import os

from hubs.config import fedmsg_config
from hubs.limits import keep_fedmsg_hub_from_lowering

config = fedmsg_config(os.environ)

# fedmsg-hub would pin the open-files limit to 4096 (hard limit included) before
# loading Hubs; each open page is a socket. Ask it for ours instead.
keep_fedmsg_hub_from_lowering(config["hubs.web.max_open_files"])
