"""The settings object: validated once, all problems reported together."""

import pytest

from hubs.config import ConfigError, HubsConfig


def test_minimal_config_gets_defaults():
    """Only the DSN and memcached servers are required."""
    c = HubsConfig.from_fedmsg({"hubs.db.dsn": "dbname=hubs", "hubs.memcached.servers": "127.0.0.1:11211,h2:1"})
    assert c.web_port == 5000 and c.web_host == "127.0.0.1"
    assert c.memcached_servers == (("127.0.0.1", 11211), ("h2", 1))
    assert c.admin_token is None


def test_every_problem_is_reported_at_once():
    """A config with many mistakes lists each one."""
    with pytest.raises(ConfigError) as info:
        HubsConfig.from_fedmsg({"hubs.memcached.servers": "nohost", "hubs.web.port": "http",
                                "hubs.sse.keepalive": 60, "hubs.admin_token": "short"})
    message = str(info.value)
    for fragment in ("hubs.db.dsn: missing", "'nohost' is not host:port", "hubs.web.port",
                     "hubs.sse.keepalive", "hubs.admin_token"):
        assert fragment in message


def test_the_shipped_fedmsg_config_is_valid():
    """fedmsg.d/ in the repository loads into a valid HubsConfig."""
    import fedmsg.config

    config = fedmsg.config.load_config([], None, filenames=None)
    settings = HubsConfig.from_fedmsg(config)
    assert config["hubs.consumer.enabled"] is True
    assert config["moksha.blocking_mode"] is True
    assert settings.publish_name in config["endpoints"]
    assert all("localhost" not in e for eps in config["endpoints"].values() for e in eps)


MINIMAL = {"hubs.db.dsn": "dbname=hubs", "hubs.memcached.servers": "127.0.0.1:11211"}

READ = [
    # (keys besides the minimal ones, attribute, its value)
    ({"hubs.web.port": "8080"}, "web_port", 8080),
    ({"hubs.web.host": None}, "web_host", "127.0.0.1"),
    ({"hubs.memcached.servers": ["a:1", " b:2 "]}, "memcached_servers", (("a", 1), ("b", 2))),
    ({"hubs.db.pool_size": 0}, "db_pool_size", 1),
    ({"hubs.web.max_open_files": 10}, "max_open_files", 1024),
    ({"hubs.sse.replay_bytes": 10}, "sse_replay_bytes", 1024 * 1024),
    ({"hubs.messages.prune_interval": 0.1}, "messages_prune_interval", 1.0),
    ({"hubs.services.backoff_cap": 0}, "services_backoff_cap", 1.0),
    ({"hubs.services.bodhi_url": "https://b.example//"}, "bodhi_url", "https://b.example"),
    ({"hubs.junk_suffixes": ["a.b", "c"]}, "junk_suffixes", ("a.b", "c")),
    ({"hubs.admin_token": ""}, "admin_token", None),
    ({"hubs.amqp.prefetch": 0}, "amqp_prefetch", 100),  # AMQP off: its keys are not read
    ({"hubs.amqp.url": "amqp://h/", "hubs.amqp.bindings": {"exchange": "e", "routing_keys": ["a.#"]}},
     "amqp_bindings", ({"exchange": "e", "routing_keys": ["a.#"]},)),
    ({"hubs.amqp.url": "amqp://h/", "hubs.amqp.bindings": []}, "amqp_bindings",
     ({"exchange": "amq.topic", "routing_keys": ["#"]},)),
    ({"hubs.amqp.url": "amqps://h/", "hubs.amqp.tls.ca_cert": ""}, "amqp_ca_cert", None),
    ({"hubs.oidc.client_id": "c"}, "oidc_client_id", ""),  # login off: its keys are not read
    ({"hubs.oidc.issuer": "", "hubs.session_secret": "short"}, "oidc_issuer", None),
    ({"hubs.demo_feed.interval": 0}, "demo_feed_interval", 0.0),
    ({"hubs.fedmsg.enabled": 0, "hubs.amqp.url": "amqp://h/"}, "fedmsg_enabled", False),
]


@pytest.mark.parametrize(("keys", "attr", "value"), READ)
def test_each_key_is_read_converted_and_raised_to_its_floor(keys, attr, value):
    """A key's value becomes its attribute: converted, floors applied, and unread when its feature is off."""
    assert getattr(HubsConfig.from_fedmsg({**MINIMAL, **keys}), attr) == value


PROBLEMS = [
    # (keys besides the minimal ones, the one problem reported)
    ({"hubs.db.dsn": None}, "hubs.db.dsn: missing"),
    ({"hubs.memcached.servers": ""}, "hubs.memcached.servers: missing"),
    ({"hubs.memcached.servers": "a:1,b"}, "hubs.memcached.servers: 'b' is not host:port"),
    ({"hubs.memcached.prefix": "has space"},
     "hubs.memcached.prefix: at most 40 printable ASCII characters, no spaces"),
    ({"hubs.web.port": 70000}, "hubs.web.port: 70000 is not a TCP port"),
    ({"hubs.web.port": "http"}, "hubs.web.port: expected int, got 'http'"),
    ({"hubs.widget.timeout": 0}, "hubs.widget.timeout: must be positive"),
    ({"hubs.sse.keepalive": 60}, "hubs.sse.keepalive: must be in (0, 15] seconds"),
    ({"hubs.sse.replay": 0}, "hubs.sse.replay: must be at least 1"),
    ({"hubs.admin_token": "short"}, "hubs.admin_token: must be a string of at least 16 characters"),
    ({"hubs.junk_suffixes": "github.status"}, "hubs.junk_suffixes: must be a list of strings"),
    ({"hubs.admins": ["ralph", 2]}, "hubs.admins: must be a list of usernames"),
    ({"hubs.services.pagure_url": "ftp://p"}, "hubs.services.pagure_url: must be an http(s) URL"),
    ({"hubs.services.timeout": 0}, "hubs.services.timeout: must be positive"),
    ({"hubs.messages.max_rows": 0}, "hubs.messages.max_rows: must be positive"),
    ({"hubs.messages.max_age_days": -1}, "hubs.messages.max_age_days: must be positive"),
    ({"hubs.messages.max_age_days": 30}, "hubs.backfill.days: more than hubs.messages.max_age_days (retention would "
                                         "drop what it fetches)"),
    ({"hubs.backfill.rows_per_page": 500}, "hubs.backfill.rows_per_page: must be between 1 and 100"),
    ({"hubs.oidc.issuer": "ftp://i", "hubs.oidc.client_id": "c", "hubs.oidc.client_secret": "s",
      "hubs.session_secret": "x" * 32}, "hubs.oidc.issuer: must be an http(s) URL"),
    ({"hubs.oidc.issuer": "https://i", "hubs.oidc.client_secret": "s", "hubs.session_secret": "x" * 32},
     "hubs.oidc.client_id: required when hubs.oidc.issuer is set"),
    ({"hubs.oidc.issuer": "https://i", "hubs.oidc.client_id": "c", "hubs.session_secret": "x" * 32},
     "hubs.oidc.client_secret: required when hubs.oidc.issuer is set"),
    ({"hubs.oidc.issuer": "https://i", "hubs.oidc.client_id": "c", "hubs.oidc.client_secret": "s",
      "hubs.session_secret": "x" * 31}, "hubs.session_secret: at least 32 characters are needed to sign login state"),
    ({"hubs.amqp.url": "http://x"}, "hubs.amqp.url: must be an amqp:// or amqps:// URL"),
    ({"hubs.amqp.url": "amqp://h/", "hubs.amqp.bindings": "#"},
     "hubs.amqp.bindings: binding 1 must be {'exchange': str, 'routing_keys': [str, ...]}"),
    ({"hubs.amqp.url": "amqp://h/", "hubs.amqp.queue": "q" * 256}, "hubs.amqp.queue: at most 255 characters"),
    ({"hubs.amqp.url": "amqp://h/", "hubs.amqp.prefetch": 0}, "hubs.amqp.prefetch: must be between 1 and 65535"),
    ({"hubs.amqp.url": "amqps://h/", "hubs.amqp.tls.keyfile": "/k"},
     "hubs.amqp.tls.certfile and hubs.amqp.tls.keyfile go together"),
    ({"hubs.amqp.url": "amqp://h/", "hubs.amqp.tls.ca_cert": "/ca"}, "hubs.amqp.tls.*: TLS files need an amqps:// URL"),
    ({"hubs.amqp.url": "amqp://h/", "hubs.amqp.handle_timeout": 0}, "hubs.amqp.handle_timeout: must be positive"),
    ({"hubs.seen_ids": 0}, "hubs.seen_ids: must be at least 1"),
    ({"hubs.demo_feed.interval": 0.1}, "hubs.demo_feed.interval: 0 (off) or between 0.5 and 3600 seconds"),
    ({"hubs.fedmsg.enabled": False}, "hubs.fedmsg.enabled: with fedmsg off, set hubs.amqp.url (Hubs needs a bus)"),
]


@pytest.mark.parametrize(("keys", "problem"), PROBLEMS)
def test_each_mistake_is_named_in_one_line(keys, problem):
    """Every check and rule says which key is wrong and why, in exactly one line."""
    with pytest.raises(ConfigError) as info:
        HubsConfig.from_fedmsg({**MINIMAL, **keys})
    assert str(info.value).splitlines()[1:] == [f"  {problem}"]


@pytest.mark.parametrize("key", ["hubs.session_days", "hubs.widget.retry", "hubs.sse.retry_ms", "hubs.db.pool_size",
                                 "hubs.web.request_timeout", "hubs.messages.prune_interval",
                                 "hubs.services.backoff_base"])
def test_a_key_of_the_wrong_type_is_reported_not_replaced_by_its_default(key):
    """A number key holding words stops the start with its name (it used to fall back to the default silently)."""
    with pytest.raises(ConfigError, match=f"{key}: expected (int|float), got 'soon'"):
        HubsConfig.from_fedmsg({**MINIMAL, key: "soon"})
