# Local bus settings for development: hub processes and one relay, all on loopback.
# fedmsg merges every `config` dict it finds in ./fedmsg.d, /etc/fedmsg.d, ~/.fedmsg.d.
import os
import socket

hostname = socket.gethostname().split(".")[0]

# Every hub process publishes from the first free endpoint of this list
# (fedmsg.init binds the first port nobody holds) and subscribes to all of
# them, so several processes on one host (`make fleet`) hear each other.
# HUBS_BUS_ENDPOINTS (comma separated) names them explicitly, e.g. one per
# host in a fleet of several machines; otherwise 8 slots from port 3011.
HUB_ENDPOINTS = [e for e in os.environ.get("HUBS_BUS_ENDPOINTS", "").split(",") if e] or [
    f"tcp://127.0.0.1:{port}" for port in range(3011, 3011 + int(os.environ.get("HUBS_BUS_SLOTS", "8")))]

config = dict(
    topic_prefix="org.fedoraproject",
    environment="dev",
    # moksha refuses to start without it ("Cannot find Moksha configuration").
    zmq_enabled=True,
    # Signatures need certificates we do not have locally.
    validate_signatures=False,
    sign_messages=False,
    # 'localhost' is rejected by moksha: always use 127.0.0.1.
    endpoints={
        # Hub processes publish hubs.* change messages from here (one endpoint
        # each) and receive every process's, their own included (a few ms later).
        "hubs.hub": HUB_ENDPOINTS,
        # fedmsg-relay: what fedmsg-logger sends ends up here.
        "relay_outbound": ["tcp://127.0.0.1:4001"],
    },
    relay_inbound=["tcp://127.0.0.1:2003"],
    high_water_mark=0,
    io_threads=1,
    post_init_sleep=0.5,
    zmq_linger=1000,
    zmq_reconnect_ivl=100,
    zmq_reconnect_ivl_max=1000,
)
