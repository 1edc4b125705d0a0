# Hubs settings. Every key is documented in the README ("Configuration").
# Environment variables override the development defaults so that the run
# command can point the hub at a private PostgreSQL cluster and memcached.
import os

from hubs.limits import keep_fedmsg_hub_from_lowering

config = {
    # Turns the consumer (and so the whole web site) on in fedmsg-hub.
    "hubs.consumer.enabled": True,
    # Where the web site listens.
    "hubs.web.host": os.environ.get("HUBS_WEB_HOST", "127.0.0.1"),
    "hubs.web.port": int(os.environ.get("HUBS_WEB_PORT", "5000")),
    # Seconds a request may take to send its request line, headers and body (slow clients get 408).
    "hubs.web.request_timeout": 10.0,
    # Each open page holds one socket; fedmsg-hub caps open files at 4096, Hubs raises it to this.
    "hubs.web.max_open_files": 65536,
    # One log line per request (off by default: it costs throughput).
    "hubs.web.access_log": os.environ.get("HUBS_ACCESS_LOG", "") == "1",
    # libpq connection string of the configuration database.
    # The default is the private cluster `make run` starts (.dev/pg), so that the
    # commands (populate.py, hubs-token) reach the same database from any terminal.
    "hubs.db.dsn": os.environ.get("HUBS_DB_DSN", "host=127.0.0.1 port=54329 user=hubs dbname=hubs"),
    "hubs.db.pool_size": 4,
    # memcached servers, "host:port" comma separated (a HashClient spreads keys).
    "hubs.memcached.servers": os.environ.get("HUBS_MEMCACHED", "127.0.0.1:11219"),
    # Prefix of every key: keeps deployments that share memcached apart.
    "hubs.memcached.prefix": "",
    # fedmsg endpoint name the hub publishes hubs.* messages from (see base.py).
    "hubs.publish_name": "hubs.hub",
    # Seconds a widget's data() may take before it is shown as failed.
    "hubs.widget.timeout": 10.0,
    # Seconds before a failed widget is tried again.
    "hubs.widget.retry": 60.0,
    # EventSource: keep-alive comment interval, retry advice (ms), replay buffer length.
    "hubs.sse.keepalive": 15.0,
    "hubs.sse.retry_ms": 2000,
    "hubs.sse.replay": 1024,
    # The message store (activity widgets): retention by age and by row count.
    "hubs.messages.max_age_days": 30,
    "hubs.messages.max_rows": 1_000_000,
    "hubs.messages.prune_interval": 300,
    # Outside services some widgets read (HUBS_SERVICES points all of them at one
    # server, e.g. the canned one `make run` starts offline), and their timeout.
    "hubs.services.badges_url": os.environ.get("HUBS_SERVICES", "https://badges.fedoraproject.org"),
    "hubs.services.bodhi_url": os.environ.get("HUBS_SERVICES", "https://bodhi.fedoraproject.org"),
    "hubs.services.pagure_url": os.environ.get("HUBS_SERVICES", "https://pagure.io"),
    # Base of the teams' iCalendar feeds (<base>/ical/<team>/), used for new team hubs.
    "hubs.services.fedocal_url": os.environ.get("HUBS_SERVICES", "https://calendar.fedoraproject.org"),
    "hubs.services.timeout": 10.0,
    # After a failed fetch, seconds before that URL is tried again (doubling up to the cap).
    "hubs.services.backoff_base": 30.0,
    "hubs.services.backoff_cap": 1800.0,
    # URLs typed into widgets (calendars) may only reach public addresses, unless this is
    # on (development and tests, where the canned services run on 127.0.0.1).
    "hubs.services.allow_private_urls": os.environ.get("HUBS_ALLOW_PRIVATE_URLS", "") == "1",
    # Topics ending with one of these are dropped before any widget is asked.
    "hubs.junk_suffixes": [
        "buildsys.task.state.change",
        "buildsys.rpm.sign",
        "buildsys.repo.init",
        "buildsys.repo.done",
        "buildsys.tag",
        "buildsys.untag",
        "faf.report.threshold1",
        "github.status",
    ],
    # OpenID Connect login (Fedora accounts use OIDC). Unset issuer: nobody can log in,
    # the site is read-only except for API tokens (hubs-token).
    "hubs.oidc.issuer": os.environ.get("HUBS_OIDC_ISSUER") or None,
    "hubs.oidc.client_id": os.environ.get("HUBS_OIDC_CLIENT_ID", ""),
    "hubs.oidc.client_secret": os.environ.get("HUBS_OIDC_CLIENT_SECRET", ""),
    # Where the provider sends people back (default: http://<web host>:<port>/oidc/callback).
    "hubs.oidc.redirect_uri": os.environ.get("HUBS_OIDC_REDIRECT_URI", ""),
    # Signs the short-lived login state; at least 32 characters when login is on.
    "hubs.session_secret": os.environ.get("HUBS_SESSION_SECRET", ""),
    "hubs.session_days": 14,
    # Set True behind HTTPS so cookies are only sent over it.
    "hubs.cookie_secure": False,
    # Site admins: may create team hubs, archive hubs and make owners.
    "hubs.admins": [a for a in os.environ.get("HUBS_ADMINS", "").split(",") if a],
    # Development only: a bearer token that acts as a site admin named hubs.admin_token_user.
    # Unset (the default), it does not exist. Scripts should use `hubs-token` instead.
    "hubs.admin_token": os.environ.get("HUBS_ADMIN_TOKEN") or None,
    "hubs.admin_token_user": "admin",
    # Fedora Messaging (AMQP), beside fedmsg. Unset URL (the default): off. For Fedora's public broker:
    # amqps://rabbitmq.fedoraproject.org/%2Fpublic_pubsub with the TLS files below (see the README).
    "hubs.amqp.url": os.environ.get("HUBS_AMQP_URL") or None,
    # What the queue is bound to: fedora-messaging's bindings format.
    "hubs.amqp.bindings": [{"exchange": "amq.topic", "routing_keys": ["#"]}],
    # Empty: a fresh exclusive, auto-deleted queue per process, named with a UUID (Fedora's public broker
    # requires UUID names). A name: a durable queue that keeps messages while Hubs is down.
    "hubs.amqp.queue": os.environ.get("HUBS_AMQP_QUEUE", ""),
    # Messages the broker sends ahead of the acknowledgements.
    "hubs.amqp.prefetch": 10,
    # TLS for amqps:// (the CA and, for x509 login, the client certificate and key).
    "hubs.amqp.tls.ca_cert": os.environ.get("HUBS_AMQP_CA_CERT") or None,
    "hubs.amqp.tls.certfile": os.environ.get("HUBS_AMQP_CERTFILE") or None,
    "hubs.amqp.tls.keyfile": os.environ.get("HUBS_AMQP_KEYFILE") or None,
    # Publish Hubs' own change messages on AMQP too (when the URL is set), on this exchange.
    "hubs.amqp.publish": True,
    "hubs.amqp.publish_exchange": "amq.topic",
    # Seconds a message may take to be taken by Hubs before it is acknowledged anyway.
    "hubs.amqp.handle_timeout": 30.0,
    # How many recent message ids are remembered, so a message bridged onto both buses is handled once.
    "hubs.seen_ids": 10000,
    # Development: a realistic bus message every this many seconds, so hubs move (0: off).
    # `make run` sets HUBS_DEMO_FEED=1 unless you set HUBS_DEMO_FEED=0.
    # Listen to and publish on fedmsg (HUBS_FEDMSG=0: Fedora Messaging alone; needs hubs.amqp.url).
    "hubs.fedmsg.enabled": os.environ.get("HUBS_FEDMSG", "1") != "0",
    "hubs.demo_feed.interval": 4.0 if os.environ.get("HUBS_DEMO_FEED", "0") != "0" else 0.0,
    # consume() runs in the reactor thread: every Twisted call stays there.
    "moksha.blocking_mode": True,
    # Threads for the few blocking jobs (calendar parsing, the OIDC token exchange, DNS checks).
    "moksha.threadpool_size": 8,
}

# fedmsg-hub would pin the open-files limit to 4096 (hard limit included) before
# loading Hubs; each open page is a socket. Ask it for ours instead.
keep_fedmsg_hub_from_lowering(config["hubs.web.max_open_files"])
