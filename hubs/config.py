"""The hub's settings: read once from the fedmsg config, validated, frozen."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """The configuration is unusable; the message lists every problem at once."""


@dataclass(frozen=True)
class HubsConfig:
    """Everything the hub reads from ``fedmsg.d``; see the README for each key."""

    db_dsn: str
    memcached_servers: tuple[tuple[str, int], ...]
    memcached_prefix: str = ""
    web_host: str = "127.0.0.1"
    web_port: int = 5000
    db_pool_size: int = 4
    publish_name: str = "hubs.hub"
    topic_prefix: str = "org.fedoraproject"
    environment: str = "dev"
    widget_timeout: float = 10.0
    widget_retry: float = 60.0
    sse_keepalive: float = 15.0
    sse_retry_ms: int = 2000
    sse_replay: int = 1024
    sse_replay_bytes: int = 32 * 1024 * 1024
    junk_suffixes: tuple[str, ...] = ()
    admin_token: str | None = None
    access_log: bool = False
    request_timeout: float = 10.0
    max_open_files: int = 65536
    messages_max_age_days: float = 30.0
    messages_max_rows: int = 1_000_000
    messages_prune_interval: float = 300.0
    services_timeout: float = 10.0
    services_backoff_base: float = 30.0
    services_backoff_cap: float = 1800.0
    allow_private_urls: bool = False
    badges_url: str = "https://badges.fedoraproject.org"
    bodhi_url: str = "https://bodhi.fedoraproject.org"
    pagure_url: str = "https://pagure.io"
    fedocal_url: str = "https://calendar.fedoraproject.org"
    oidc_issuer: str | None = None
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_redirect_uri: str = ""
    session_secret: str = ""
    session_days: float = 14.0
    cookie_secure: bool = False
    admins: tuple[str, ...] = ()
    admin_token_user: str = "admin"
    # Fedora Messaging (AMQP): off unless amqp_url is set.
    amqp_url: str | None = None
    amqp_bindings: tuple[dict[str, Any], ...] = ({"exchange": "amq.topic", "routing_keys": ["#"]},)
    amqp_queue: str = ""
    amqp_prefetch: int = 100
    amqp_ca_cert: str | None = None
    amqp_certfile: str | None = None
    amqp_keyfile: str | None = None
    amqp_publish: bool = True
    amqp_publish_exchange: str = "amq.topic"
    amqp_handle_timeout: float = 30.0
    seen_ids: int = 10_000
    fedmsg_enabled: bool = True  # listen to and publish on fedmsg (off: Fedora Messaging alone)
    demo_feed_interval: float = 0.0  # 0: off
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_fedmsg(cls, config: Mapping[str, Any]) -> HubsConfig:
        """Build from a fedmsg config dict, reporting all problems together."""
        errors: list[str] = []

        def get(key: str, kind: type, default: Any = None, required: bool = False) -> Any:
            if key not in config or config[key] is None:
                if required:
                    errors.append(f"{key}: missing")
                return default
            value = config[key]
            try:
                if kind is bool:
                    return bool(value)
                return kind(value)
            except (TypeError, ValueError):
                errors.append(f"{key}: expected {kind.__name__}, got {value!r}")
                return default

        dsn = get("hubs.db.dsn", str, required=True)
        servers_raw = config.get("hubs.memcached.servers")
        servers: list[tuple[str, int]] = []
        if not servers_raw:
            errors.append("hubs.memcached.servers: missing")
        else:
            items = servers_raw.split(",") if isinstance(servers_raw, str) else list(servers_raw)
            for item in items:
                host, sep, port = str(item).strip().rpartition(":")
                if not sep or not host or not port.isdigit():
                    errors.append(f"hubs.memcached.servers: {item!r} is not host:port")
                else:
                    servers.append((host, int(port)))
        prefix = get("hubs.memcached.prefix", str, "")
        if len(prefix) > 40 or any(c.isspace() or ord(c) < 33 or ord(c) > 126 for c in prefix):
            errors.append("hubs.memcached.prefix: at most 40 printable ASCII characters, no spaces")
        port = get("hubs.web.port", int, 5000)
        if not 0 <= port <= 65535:
            errors.append(f"hubs.web.port: {port} is not a TCP port")
        timeout = get("hubs.widget.timeout", float, 10.0)
        if timeout <= 0:
            errors.append("hubs.widget.timeout: must be positive")
        keepalive = get("hubs.sse.keepalive", float, 15.0)
        if not 0 < keepalive <= 15:
            errors.append("hubs.sse.keepalive: must be in (0, 15] seconds")
        replay = get("hubs.sse.replay", int, 1024)
        if replay < 1:
            errors.append("hubs.sse.replay: must be at least 1")
        token = config.get("hubs.admin_token") or None
        if token is not None and (not isinstance(token, str) or len(token) < 16):
            errors.append("hubs.admin_token: must be a string of at least 16 characters")
        junk = config.get("hubs.junk_suffixes", ())
        if isinstance(junk, str) or not all(isinstance(s, str) for s in junk):
            errors.append("hubs.junk_suffixes: must be a list of strings")
            junk = ()
        urls = {}
        for key, default in (("badges_url", cls.badges_url), ("bodhi_url", cls.bodhi_url),
                             ("pagure_url", cls.pagure_url), ("fedocal_url", cls.fedocal_url)):
            value = get(f"hubs.services.{key}", str, default).rstrip("/")
            if not value.startswith(("http://", "https://")):
                errors.append(f"hubs.services.{key}: must be an http(s) URL")
            urls[key] = value
        max_age = get("hubs.messages.max_age_days", float, 30.0)
        max_rows = get("hubs.messages.max_rows", int, 1_000_000)
        if max_age <= 0 or max_rows < 1:
            errors.append("hubs.messages.max_age_days and hubs.messages.max_rows must be positive")
        services_timeout = get("hubs.services.timeout", float, 10.0)
        if services_timeout <= 0:
            errors.append("hubs.services.timeout: must be positive")
        issuer = config.get("hubs.oidc.issuer") or None
        oidc = {}
        if issuer is not None:
            if not str(issuer).startswith(("http://", "https://")):
                errors.append("hubs.oidc.issuer: must be an http(s) URL")
            for key in ("client_id", "client_secret"):
                if not config.get(f"hubs.oidc.{key}"):
                    errors.append(f"hubs.oidc.{key}: required when hubs.oidc.issuer is set")
            oidc = {"oidc_issuer": str(issuer), "oidc_client_id": str(config.get("hubs.oidc.client_id") or ""),
                    "oidc_client_secret": str(config.get("hubs.oidc.client_secret") or ""),
                    "oidc_redirect_uri": str(config.get("hubs.oidc.redirect_uri") or "")}
        secret = config.get("hubs.session_secret") or ""
        if issuer is not None and len(str(secret)) < 32:
            errors.append("hubs.session_secret: at least 32 characters are needed to sign login state")
        admins = config.get("hubs.admins", ())
        if isinstance(admins, str) or not all(isinstance(a, str) for a in admins):
            errors.append("hubs.admins: must be a list of usernames")
            admins = ()
        amqp = _amqp_settings(config, errors, get)
        seen_ids = get("hubs.seen_ids", int, 10_000)
        if seen_ids < 1:
            errors.append("hubs.seen_ids: must be at least 1")
        demo_interval = get("hubs.demo_feed.interval", float, 0.0)
        if demo_interval != 0 and not 0.5 <= demo_interval <= 3600:
            errors.append("hubs.demo_feed.interval: 0 (off) or between 0.5 and 3600 seconds")
        fedmsg_enabled = bool(config.get("hubs.fedmsg.enabled", True))
        if not fedmsg_enabled and not amqp.get("amqp_url"):
            errors.append("hubs.fedmsg.enabled: with fedmsg off, set hubs.amqp.url (Hubs needs a bus)")
        if errors:
            raise ConfigError("invalid Hubs configuration:\n  " + "\n  ".join(errors))
        return cls(
            db_dsn=dsn,
            memcached_servers=tuple(servers),
            memcached_prefix=prefix,
            web_host=get("hubs.web.host", str, "127.0.0.1"),
            web_port=port,
            db_pool_size=max(1, get("hubs.db.pool_size", int, 4)),
            publish_name=get("hubs.publish_name", str, "hubs.hub"),
            topic_prefix=get("topic_prefix", str, "org.fedoraproject"),
            environment=get("environment", str, "dev"),
            widget_timeout=timeout,
            widget_retry=get("hubs.widget.retry", float, 60.0),
            sse_keepalive=keepalive,
            sse_retry_ms=get("hubs.sse.retry_ms", int, 2000),
            sse_replay=replay,
            sse_replay_bytes=max(1024 * 1024, get("hubs.sse.replay_bytes", int, 32 * 1024 * 1024)),
            junk_suffixes=tuple(junk),
            admin_token=token,
            access_log=bool(config.get("hubs.web.access_log", False)),
            request_timeout=get("hubs.web.request_timeout", float, 10.0),
            max_open_files=max(1024, get("hubs.web.max_open_files", int, 65536)),
            messages_max_age_days=max_age,
            messages_max_rows=max_rows,
            messages_prune_interval=max(1.0, get("hubs.messages.prune_interval", float, 300.0)),
            services_timeout=services_timeout,
            services_backoff_base=max(1.0, get("hubs.services.backoff_base", float, 30.0)),
            services_backoff_cap=max(1.0, get("hubs.services.backoff_cap", float, 1800.0)),
            allow_private_urls=bool(config.get("hubs.services.allow_private_urls", False)),
            **urls,
            **oidc,
            session_secret=str(secret),
            session_days=get("hubs.session_days", float, 14.0),
            cookie_secure=bool(config.get("hubs.cookie_secure", False)),
            admins=tuple(admins),
            admin_token_user=get("hubs.admin_token_user", str, "admin"),
            **amqp,
            seen_ids=seen_ids,
            fedmsg_enabled=fedmsg_enabled,
            demo_feed_interval=demo_interval,
            raw=dict(config),
        )

    def amqp_settings(self):
        """The AMQP source's settings, or None when ``hubs.amqp.url`` is unset (AMQP off)."""
        if not self.amqp_url:
            return None
        from hubs.bus.amqp.settings import AmqpSettings

        return AmqpSettings(url=self.amqp_url, bindings=self.amqp_bindings, queue=self.amqp_queue,
                            prefetch=self.amqp_prefetch, ca_cert=self.amqp_ca_cert, certfile=self.amqp_certfile,
                            keyfile=self.amqp_keyfile, publish_exchange=self.amqp_publish_exchange,
                            handle_timeout=self.amqp_handle_timeout)


def _amqp_settings(config: Mapping[str, Any], errors: list[str], get) -> dict[str, Any]:
    """The ``hubs.amqp.*`` keys, checked (problems appended to ``errors``)."""
    url = config.get("hubs.amqp.url") or None
    if url is None:
        return {}
    url = str(url)
    if not url.startswith(("amqp://", "amqps://")):
        errors.append("hubs.amqp.url: must be an amqp:// or amqps:// URL")
    bindings = config.get("hubs.amqp.bindings") or [{"exchange": "amq.topic", "routing_keys": ["#"]}]
    if isinstance(bindings, Mapping):
        bindings = [bindings]
    clean = []
    for n, b in enumerate(bindings if isinstance(bindings, (list, tuple)) else [None], start=1):
        keys = b.get("routing_keys") if isinstance(b, Mapping) else None
        if not isinstance(b, Mapping) or not isinstance(b.get("exchange", "amq.topic"), str) \
                or not isinstance(keys, (list, tuple)) or not keys or not all(isinstance(k, str) for k in keys):
            errors.append(f"hubs.amqp.bindings: binding {n} must be {{'exchange': str, 'routing_keys': [str, ...]}}")
            continue
        clean.append({"exchange": b.get("exchange", "amq.topic"), "routing_keys": list(keys)})
    queue = get("hubs.amqp.queue", str, "")
    if len(queue) > 255:
        errors.append("hubs.amqp.queue: at most 255 characters")
    prefetch = get("hubs.amqp.prefetch", int, 100)
    if not 1 <= prefetch <= 65535:
        errors.append("hubs.amqp.prefetch: must be between 1 and 65535")
    tls = {}
    for key in ("ca_cert", "certfile", "keyfile"):
        value = config.get(f"hubs.amqp.tls.{key}") or None
        tls[f"amqp_{key}"] = str(value) if value else None
    if bool(tls["amqp_certfile"]) != bool(tls["amqp_keyfile"]):
        errors.append("hubs.amqp.tls.certfile and hubs.amqp.tls.keyfile go together")
    if (tls["amqp_certfile"] or tls["amqp_ca_cert"]) and not url.startswith("amqps://"):
        errors.append("hubs.amqp.tls.*: TLS files need an amqps:// URL")
    timeout = get("hubs.amqp.handle_timeout", float, 30.0)
    if timeout <= 0:
        errors.append("hubs.amqp.handle_timeout: must be positive")
    return {"amqp_url": url, "amqp_bindings": tuple(clean), "amqp_queue": queue, "amqp_prefetch": prefetch,
            "amqp_publish": bool(config.get("hubs.amqp.publish", True)),
            "amqp_publish_exchange": get("hubs.amqp.publish_exchange", str, "amq.topic"),
            "amqp_handle_timeout": timeout, **tls}
