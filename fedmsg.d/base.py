# Local bus settings for development: one hub process, one relay, all on loopback.
# fedmsg merges every `config` dict it finds in ./fedmsg.d, /etc/fedmsg.d, ~/.fedmsg.d.
import socket

hostname = socket.gethostname().split(".")[0]

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
        # The hub publishes hubs.* change messages from here, and receives them
        # back through its own subscription (a few ms later).
        "hubs.hub": ["tcp://127.0.0.1:3011"],
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
