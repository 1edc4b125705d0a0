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
