"""The hub's settings: every key declared once below, read from the fedmsg config, validated, frozen.

``SETTINGS`` gives ``HubsConfig`` (one attribute per row that names one), its checks,
the dict ``fedmsg.d/hubs.py`` hands to fedmsg (``HUBS_*`` variables applied) and the
README's "Configuration" tables (``python -m hubs.config --markdown``). A new key is one
``Setting`` row (``hubs/settings.py`` explains the columns); a check involving several
keys is one ``Rule``. Standard library only: fedmsg.d imports this at every config load.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import field
from typing import Any

from hubs.settings import (
    BINDINGS,
    BOOL,
    DEFAULT_BINDINGS,
    FLOAT,
    HOST_PORTS,
    HTTP_URL,
    INT,
    OPTIONAL_TEXT,
    POSITIVE,
    SECRET,
    TEXT,
    URL,
    Rule,
    Setting,
    Variable,
    at_least,
    between,
    check,
    fedmsg_dict,
    frozen_settings,
    markdown,
    read_settings,
    replace_section,
    strings,
)

MiB = 1024 * 1024
DEV_DSN = "host=127.0.0.1 port=54329 user=hubs dbname=hubs"  # the private cluster `make run` starts (.dev/pg)
JUNK = ["buildsys.task.state.change", "buildsys.rpm.sign", "buildsys.repo.init", "buildsys.repo.done", "buildsys.tag",
        "buildsys.untag", "faf.report.threshold1", "github.status"]


def _demo_feed(text: str, default: Any) -> float:
    return 4.0 if text != "0" else 0.0


_tcp_port = check(lambda p: 0 <= p <= 65535, "{value} is not a TCP port")
_key_prefix = check(lambda p: len(p) <= 40 and all(33 <= ord(c) <= 126 for c in p),
                    "at most 40 printable ASCII characters, no spaces")
_amqp_url = check(lambda u: u.startswith(("amqp://", "amqps://")), "must be an amqp:// or amqps:// URL")
_db_seconds = check(lambda s: 0 < s <= 3600, "must be in (0, 3600] seconds")
_keepalive = check(lambda s: 0 < s <= 15, "must be in (0, 15] seconds")
_demo_interval = check(lambda s: s == 0 or 0.5 <= s <= 3600, "0 (off) or between 0.5 and 3600 seconds")
_token = check(lambda t: isinstance(t, str) and len(t) >= 16, "must be a string of at least 16 characters")
AMQP = "hubs.amqp.url"  # the hubs.amqp.* keys below are read only when it is set
OIDC = "hubs.oidc.issuer"  # likewise the hubs.oidc.* keys

S = Setting
SETTINGS: tuple[Setting, ...] = (
    # The hub inside fedmsg-hub, and its web site.
    S(None, "hubs.consumer.enabled", BOOL, False, "turns Hubs on inside `fedmsg-hub`", shipped=True),
    S("web_host", "hubs.web.host", TEXT, "127.0.0.1", "address the web site listens on", env="HUBS_WEB_HOST"),
    S("web_port", "hubs.web.port", INT, 5000, "port the web site listens on", env="HUBS_WEB_PORT", check=_tcp_port),
    S("request_timeout", "hubs.web.request_timeout", FLOAT, 10.0,
      "seconds a request's line, headers and body may take to arrive (then 408)"),
    S("max_open_files", "hubs.web.max_open_files", INT, 65536,
      "open-files limit Hubs raises to at start (fedmsg-hub pins it to 4096; one per open page)", floor=1024),
    S("access_log", "hubs.web.access_log", BOOL, False, "one log line per request (it costs throughput)",
      env="HUBS_ACCESS_LOG"),
    # PostgreSQL and memcached.
    S("db_dsn", "hubs.db.dsn", TEXT, None, "libpq DSN of the configuration database", env="HUBS_DB_DSN",
      required=True, shipped=DEV_DSN, shown="required; fedmsg.d: the private cluster (`port=54329 user=hubs`)"),
    S("db_pool_size", "hubs.db.pool_size", INT, 8,
      "txpostgres connections (during a storm of rebuilds, each answers about one statement a reactor turn)",
      floor=1),
    S("db_statement_timeout", "hubs.db.statement_timeout", FLOAT, 5.0,
      "seconds PostgreSQL may run one statement (it cancels it then); Hubs abandons the connection 1 s later "
      "(a frozen server never holds the reactor)", check=_db_seconds),
    S("db_connect_timeout", "hubs.db.connect_timeout", FLOAT, 5.0,
      "seconds a new PostgreSQL connection may take to open before it is abandoned", check=_db_seconds),
    S("memcached_servers", "hubs.memcached.servers", HOST_PORTS, None,
      "`host:port[,host:port…]`, keys spread by a HashClient; every process of a fleet lists the same servers, "
      "written the same way", env="HUBS_MEMCACHED", required=True, shipped="127.0.0.1:11219",
      shown="required; fedmsg.d: `127.0.0.1:11219` (the private one)"),
    S("memcached_prefix", "hubs.memcached.prefix", TEXT, "", "prefix of every key, for deployments sharing memcached",
      check=_key_prefix),
    # The buses.
    S("topic_prefix", "topic_prefix", TEXT, "org.fedoraproject", "first words of every topic", owner="fedmsg"),
    S("environment", "environment", TEXT, "dev", "the word after them (`dev`, `stg`, `prod`)", owner="fedmsg"),
    S(None, 'endpoints["hubs.hub"]', strings("endpoints"), None,
      "the endpoints hub processes publish from: each binds the first free one and all subscribe to every one "
      "(`HUBS_BUS_SLOTS` sets how many local ones)", env="HUBS_BUS_ENDPOINTS", owner="fedmsg",
      shown="`tcp://127.0.0.1:3011`…`3018`"),
    S("publish_name", "hubs.publish_name", TEXT, "hubs.hub",
      "the `endpoints` entry the hub publishes `hubs.*` messages from"),
    S("fedmsg_enabled", "hubs.fedmsg.enabled", BOOL, True,
      "listen to and publish on fedmsg (off: Fedora Messaging alone, which needs `hubs.amqp.url`)", env="HUBS_FEDMSG"),
    S("amqp_url", AMQP, OPTIONAL_TEXT, None, "Fedora Messaging broker, `amqp://` or `amqps://`; unset: AMQP off",
      env="HUBS_AMQP_URL", check=_amqp_url),
    S("amqp_bindings", "hubs.amqp.bindings", BINDINGS, DEFAULT_BINDINGS,
      'fedora-messaging bindings: `[{"exchange": ..., "routing_keys": [...]}]`', needs=AMQP,
      shown="`amq.topic`, `#`"),
    S("amqp_queue", "hubs.amqp.queue", TEXT, "",
      "empty: a fresh exclusive, auto-deleted queue per process named with a UUID (what Fedora's public broker "
      "requires); a name: a durable queue, nothing lost while Hubs is down", env="HUBS_AMQP_QUEUE", needs=AMQP,
      check=check(lambda q: len(q) <= 255, "at most 255 characters")),
    S("amqp_prefetch", "hubs.amqp.prefetch", INT, 100,
      "messages the broker sends ahead of acknowledgements; acknowledgements wait for the message store, so this "
      "many are read while earlier ones are written (10: about 30 % slower intake)",
      needs=AMQP, check=between(1, 65535)),
    S("amqp_ca_cert", "hubs.amqp.tls.ca_cert", OPTIONAL_TEXT, None, "TLS for `amqps://`: the CA file",
      env="HUBS_AMQP_CA_CERT", needs=AMQP),
    S("amqp_certfile", "hubs.amqp.tls.certfile", OPTIONAL_TEXT, None, "the x509 client certificate (with the key)",
      env="HUBS_AMQP_CERTFILE", needs=AMQP),
    S("amqp_keyfile", "hubs.amqp.tls.keyfile", OPTIONAL_TEXT, None, "its private key", env="HUBS_AMQP_KEYFILE",
      needs=AMQP),
    S("amqp_publish", "hubs.amqp.publish", BOOL, True, "also publish Hubs' change messages on AMQP", needs=AMQP),
    S("amqp_publish_exchange", "hubs.amqp.publish_exchange", TEXT, "amq.topic", "the exchange they go to",
      needs=AMQP),
    S("amqp_handle_timeout", "hubs.amqp.handle_timeout", FLOAT, 30.0,
      "seconds a message may take to be taken (decided and stored) before it is acknowledged anyway", needs=AMQP,
      check=POSITIVE),
    S("seen_ids", "hubs.seen_ids", INT, 10_000,
      "recent message ids remembered, so a message bridged onto both buses is handled once", check=at_least(1)),
    S("demo_feed_interval", "hubs.demo_feed.interval", FLOAT, 0.0,
      "development: a realistic bus message every N seconds (`HUBS_DEMO_FEED=1`: every 4 s; `make run` sets it)",
      env="HUBS_DEMO_FEED", env_value=_demo_feed, check=_demo_interval, shown="`0.0` (off)"),
    # Widgets, streams and the message store.
    S("widget_timeout", "hubs.widget.timeout", FLOAT, 10.0,
      "seconds an async `data()` may take before the widget shows an error", check=POSITIVE),
    S("widget_retry", "hubs.widget.retry", FLOAT, 60.0, "seconds before a failed widget is rebuilt"),
    S("build_concurrency", "hubs.build.concurrency", INT, 32,
      "widget builds at once per process, besides those of widgets that fetch from an outside service (twice "
      "`hubs.services.per_host` per service); more wait their turn, the most viewed first. A build mostly waits "
      "(memcached, the PostgreSQL pool), so this is more than `hubs.db.pool_size`", check=between(1, 1000)),
    S("sse_keepalive", "hubs.sse.keepalive", FLOAT, 15.0, "seconds between keep-alive comments (at most 15)",
      check=_keepalive),
    S("sse_retry_ms", "hubs.sse.retry_ms", INT, 2000, "reconnection advice sent to browsers (ms)"),
    S("stream_wake_interval", "hubs.stream.wake_interval", FLOAT, 1.0,
      "seconds between looks for snoozed stream items whose time has come (they come back, live)",
      check=POSITIVE),
    S("sse_replay", "hubs.sse.replay", INT, 1024, "events kept per hub for reconnecting clients",
      check=at_least(1)),
    S("sse_replay_bytes", "hubs.sse.replay_bytes", INT, 32 * MiB,
      "bytes all hubs' replay buffers may use together (oldest events go first)", floor=MiB, shown="32 MiB"),
    S("junk_suffixes", "hubs.junk_suffixes", strings("strings"), (),
      "topics ending in these are dropped before any widget is asked", shipped=JUNK,
      shown=f"none; fedmsg.d: {len(JUNK)} of build-system noise"),
    S("messages_max_age_days", "hubs.messages.max_age_days", FLOAT, 120.0,
      "message store retention by age (days); at least `hubs.backfill.days`, or a backfill's oldest months go",
      check=POSITIVE),
    S("messages_max_rows", "hubs.messages.max_rows", INT, 50_000_000,
      "message store cap: beyond it the oldest whole months go (planner's estimate; never the current month)",
      check=POSITIVE),
    S("messages_partitions_ahead", "hubs.messages.partitions_ahead", INT, 2,
      "months of message partitions created ahead of the current one", check=POSITIVE),
    S("messages_prune_interval", "hubs.messages.prune_interval", FLOAT, 300.0,
      "seconds between two prunings of the message store", floor=1.0),
    # Backfill from datagrepper (the bus's history).
    S("backfill_enabled", "hubs.backfill.enabled", BOOL, True,
      "fill the message store with a person's past at their first sign-in, a new hub's, and on request "
      "(`hubs-backfill`, the owners' button)"),
    S("backfill_url", "hubs.backfill.url", URL, "https://apps.fedoraproject.org/datagrepper",
      "datagrepper (its `/v2/search`)", env="HUBS_SERVICES", check=HTTP_URL),
    S("backfill_days", "hubs.backfill.days", FLOAT, 90.0, "days of the past a backfill fetches", check=POSITIVE),
    S("backfill_window", "hubs.backfill.window", FLOAT, 86400.0,
      "seconds of history one datagrepper query covers (windows are walked oldest first; a window with more "
      "than 10 pages is split)", floor=60.0),
    S("backfill_rows_per_page", "hubs.backfill.rows_per_page", INT, 100, "rows per datagrepper page (at most 100)",
      check=between(1, 100)),
    S("backfill_concurrency", "hubs.backfill.concurrency", INT, 2,
      "backfills walked at once per process (each one at a time across the fleet)", check=between(1, 64)),
    S("backfill_at_start", "hubs.backfill.at_start", BOOL, False,
      "at start, queue a backfill of every hub that never had one (`make run` sets it: the demo's history comes "
      "through it)", env="HUBS_BACKFILL_AT_START"),
    S("converge_interval", "hubs.converge.interval", FLOAT, 30.0,
      "seconds between two comparisons of every hub with PostgreSQL (one query); a hub that differs (an edit "
      "whose bus message was lost) is re-read and redrawn as if the message had come", floor=1.0),
    S("converge_per_round", "hubs.converge.per_round", INT, 20,
      "hubs re-read at most per comparison, one after another; the others wait for the next one",
      check=at_least(1)),
    # Outside services.
    S("badges_url", "hubs.services.badges_url", URL, "https://badges.fedoraproject.org", "Fedora Badges",
      env="HUBS_SERVICES", check=HTTP_URL),
    S("bodhi_url", "hubs.services.bodhi_url", URL, "https://bodhi.fedoraproject.org", "Bodhi", env="HUBS_SERVICES",
      check=HTTP_URL),
    S("pagure_url", "hubs.services.pagure_url", URL, "https://pagure.io", "Pagure", env="HUBS_SERVICES",
      check=HTTP_URL),
    S("fedocal_url", "hubs.services.fedocal_url", URL, "https://calendar.fedoraproject.org",
      "base of the teams' iCalendar feeds (`<base>/ical/<team>/`), for new team hubs", env="HUBS_SERVICES",
      check=HTTP_URL),
    S("services_timeout", "hubs.services.timeout", FLOAT, 10.0,
      "seconds an outside fetch may take, headers and body together; it is cut off at that point", check=POSITIVE),
    S("services_backoff_base", "hubs.services.backoff_base", FLOAT, 30.0,
      "after a failed fetch, seconds before that URL is tried again; doubles with each failure in a row", floor=1.0),
    S("services_backoff_cap", "hubs.services.backoff_cap", FLOAT, 1800.0, "… up to this", floor=1.0),
    S("services_per_host", "hubs.services.per_host", INT, 4,
      "outside fetches in flight at once per host; more wait their turn (a storm of rebuilds never floods a service)",
      check=at_least(1)),
    S("allow_private_urls", "hubs.services.allow_private_urls", BOOL, False,
      "let URLs typed into widgets (calendars) reach private addresses (development)",
      env="HUBS_ALLOW_PRIVATE_URLS"),
    # Who is in which group and who maintains what (a person's stream).
    S("fasjson_url", "hubs.fasjson.url", URL, "https://fasjson.fedoraproject.org",
      "FASJSON, Fedora's account system: the groups of the people Hubs follows", env="HUBS_SERVICES",
      check=HTTP_URL),
    S("fasjson_gssapi", "hubs.fasjson.gssapi", BOOL, False,
      "authenticate to FASJSON with Kerberos (GSSAPI): Fedora's needs it; give the process a keytab "
      "(`KRB5_CLIENT_KTNAME`)", env="HUBS_FASJSON_GSSAPI"),
    S("fasjson_refresh", "hubs.fasjson.refresh", FLOAT, 3600.0,
      "seconds between two refreshes of the groups and packages of the people Hubs follows (signed-in people, "
      "hub members; `0`: never, the bus alone); `fas.group.member.*` bus messages apply at once",
      check=check(lambda s: s == 0 or s >= 60, "0 (never) or at least 60 seconds")),
    S("fasjson_concurrency", "hubs.fasjson.concurrency", INT, 4,
      "people whose groups and packages are fetched at once during a refresh (each host also has "
      "`hubs.services.per_host`)", check=between(1, 100)),
    S("distgit_url", "hubs.distgit.url", URL, "https://src.fedoraproject.org",
      "Pagure dist-git: the packages people and groups can commit to", env="HUBS_SERVICES", check=HTTP_URL),
    S("distgit_max_pages", "hubs.distgit.max_pages", INT, 20,
      "pages of 100 projects read per person or group, at most", check=between(1, 1000)),
    # Login, sessions and admins.
    S("oidc_issuer", OIDC, OPTIONAL_TEXT, None, "OpenID Connect provider; unset: nobody logs in (API tokens only)",
      env="HUBS_OIDC_ISSUER", check=HTTP_URL),
    S("oidc_client_id", "hubs.oidc.client_id", OPTIONAL_TEXT, "", "Hubs' client id there", env="HUBS_OIDC_CLIENT_ID",
      needs=OIDC),
    S("oidc_client_secret", "hubs.oidc.client_secret", OPTIONAL_TEXT, "", "and its secret",
      env="HUBS_OIDC_CLIENT_SECRET", needs=OIDC),
    S("oidc_redirect_uri", "hubs.oidc.redirect_uri", OPTIONAL_TEXT, "",
      "where the provider sends people back (empty: `http://<web host>:<port>/oidc/callback`; behind a balancer, "
      "the balancer's)", env="HUBS_OIDC_REDIRECT_URI", needs=OIDC),
    S("session_secret", "hubs.session_secret", OPTIONAL_TEXT, "",
      "signs login state (at least 32 characters when login is on)", env="HUBS_SESSION_SECRET"),
    S("session_days", "hubs.session_days", FLOAT, 14.0, "session length (days)"),
    S("credentials_ttl", "hubs.credentials_ttl", FLOAT, 60.0,
      "seconds a process remembers who a token or session belongs to, while it hears PostgreSQL's notices of "
      "revocations (`hubs_credentials`); 0: ask PostgreSQL on every request", check=at_least(0)),
    S("cookie_secure", "hubs.cookie_secure", BOOL, False, "cookies only over HTTPS"),
    S("admins", "hubs.admins", strings("usernames"), (),
      "site admins' usernames: may create team hubs, archive hubs and make owners", env="HUBS_ADMINS"),
    S("admin_token", "hubs.admin_token", SECRET, None,
      "development only: a bearer token acting as a site admin (scripts should use `hubs-token`)",
      env="HUBS_ADMIN_TOKEN", check=_token),
    S("admin_token_user", "hubs.admin_token_user", TEXT, "admin", "the admin that token acts as"),
    # moksha (the hub fedmsg-hub runs).
    S(None, "moksha.blocking_mode", BOOL, False, "**required**: `consume()` runs in the reactor thread",
      shipped=True, owner="moksha"),
    S(None, "moksha.threadpool_size", INT, None,
      "threads for the few blocking jobs (calendar parsing, the OIDC token exchange, DNS checks)", shipped=8,
      owner="moksha"),
)

RULES: tuple[Rule, ...] = (
    Rule("hubs.oidc.client_id: required when hubs.oidc.issuer is set", lambda c: not c.oidc_issuer or c.oidc_client_id),
    Rule("hubs.oidc.client_secret: required when hubs.oidc.issuer is set",
         lambda c: not c.oidc_issuer or c.oidc_client_secret),
    Rule("hubs.session_secret: at least 32 characters are needed to sign login state",
         lambda c: not c.oidc_issuer or len(c.session_secret) >= 32),
    Rule("hubs.amqp.tls.certfile and hubs.amqp.tls.keyfile go together",
         lambda c: bool(c.amqp_certfile) == bool(c.amqp_keyfile)),
    Rule("hubs.amqp.tls.*: TLS files need an amqps:// URL",
         lambda c: not (c.amqp_certfile or c.amqp_ca_cert) or c.amqp_url.startswith("amqps://")),
    Rule("hubs.backfill.days: more than hubs.messages.max_age_days (retention would drop what it fetches)",
         lambda c: c.messages_max_age_days <= 0 or c.backfill_days <= c.messages_max_age_days),
    Rule("hubs.fedmsg.enabled: with fedmsg off, set hubs.amqp.url (Hubs needs a bus)",
         lambda c: c.fedmsg_enabled or c.amqp_url),
)

# Variables that tools/dev.sh, the tests and the benchmarks read (beyond fedmsg.d's, above).
DEV, TESTS = ("tools/dev.sh",), ("tests", "tools/dev.sh")
V = Variable
VARIABLES: tuple[Variable, ...] = (
    V("HUBS_DB_DSN", DEV, "unset: `make run` starts the private PostgreSQL cluster (`.dev/pg`) and points Hubs at it"),
    V("HUBS_MEMCACHED", DEV, "unset: `make run` starts a private memcached and points Hubs at it"),
    V("HUBS_SERVICES", DEV, "unset: `make run` starts the canned services and sets `HUBS_ALLOW_PRIVATE_URLS=1`"),
    V("HUBS_OIDC_ISSUER", DEV, "unset: `make run` starts the development login and sets `HUBS_OIDC_*`"),
    V("HUBS_DEV_LOGIN", DEV, "`0`: no development login"),
    V("HUBS_SESSION_SECRET", DEV, "with the development login: a development secret unless set"),
    V("HUBS_ADMINS", DEV, "with the development login: `ralph` unless set"),
    V("HUBS_BACKFILL_AT_START", DEV, "`make run` sets `1` unless set: the demo hubs' history comes from the canned "
      "datagrepper"),
    V("HUBS_DEMO_FEED", DEV, "`make run` sets `1` unless set (`0`: off); `make fleet` gives it to the first process"),
    V("HUBS_WEB_HOST", DEV, "`make fleet`: the balancer's address"),
    V("HUBS_WEB_PORT", DEV, "`make fleet`: the balancer's port; the processes listen on the next ones"),
    V("HUBS_OIDC_REDIRECT_URI", DEV, "`make fleet`: the balancer's `/oidc/callback` unless set"),
    V("HUBS_BUS_SLOTS", ("fedmsg.d/base.py", "tools/dev.sh"),
      "how many local `hubs.hub` endpoints base.py lists (from port 3011; 8), at least one per process of a fleet"),
    V("HUBS_VENV", DEV, "an existing virtualenv with Hubs installed, used as it is (never created or installed into)"),
    V("HUBS_DEV_DIR", DEV, "where the private services keep their data and logs (`.dev`)"),
    V("HUBS_DEV_RELAY", DEV, "`0`: start no fedmsg-relay (its ports 2003 and 4001 are fixed)"),
    V("HUBS_DEV_PG_PORT", DEV, "port of the private PostgreSQL cluster (54329)"),
    V("HUBS_DEV_MC_PORT", DEV, "port of the private memcached (11219)"),
    V("HUBS_DEV_AMQP_PORT", DEV, "port of the private RabbitMQ node started when none answers (56729)"),
    V("HUBS_DEV_SERVICES_PORT", DEV, "port of the canned services (5099)"),
    V("HUBS_DEV_OIDC_PORT", DEV, "port of the development login (5098)"),
    V("HUBS_TEST_DSN", (*TESTS, "bench", ".ci/run"),
      "admin DSN of the PostgreSQL the tests use (each run creates and drops its own databases); "
      "unset: the private cluster"),
    V("HUBS_TEST_MEMCACHED", (*TESTS, "bench", ".ci/run"), "memcached the tests use; unset: the private one"),
    V("HUBS_TEST_AMQP_URL", (*TESTS, "bench"),
      "RabbitMQ the tests use; unset: the one on 127.0.0.1:5672, else a private node"),
    V("HUBS_TEST_PRIVATE_AMQP_PORT", ("tests",), "port of the RabbitMQ node the broker-restart test starts (5679)"),
    V("HUBS_FUZZ_EXAMPLES", ("tests",), "hypothesis examples per write route (1000)"),
    V("HUBS_API_FUZZ_SEED", ("tests",), "schemathesis seed (11, as in CI)"),
    V("HUBS_AUDIT_LOG", ("tests",), "tests/reactor_audit: where imports and compiles in the reactor thread go"),
    V("HUBS_AUDIT_WEB_PORT", ("tests",), "tests/reactor_audit: the web port whose binding starts the audit"),
    V("HUBS_BENCH_SHOW_LOG", ("bench",), "bench/frozen_cache.py: print the hub's log"),
)


class ConfigError(ValueError):
    """The configuration is unusable; the message lists every problem at once."""


@frozen_settings(SETTINGS)
class HubsConfig:
    """Everything the hub reads from ``fedmsg.d``: one attribute per row of ``SETTINGS`` that names one."""

    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_fedmsg(cls, config: Mapping[str, Any]) -> HubsConfig:
        """Build from a fedmsg config dict, reporting all problems together."""
        values, problems = read_settings(SETTINGS, RULES, config)
        if problems:
            raise ConfigError("invalid Hubs configuration:\n  " + "\n  ".join(problems))
        return cls(**values, raw=dict(config))

    def amqp_settings(self):
        """The AMQP source's settings, or None when ``hubs.amqp.url`` is unset (AMQP off)."""
        if not self.amqp_url:
            return None
        from hubs.bus.amqp.settings import AmqpSettings

        return AmqpSettings(url=self.amqp_url, bindings=self.amqp_bindings, queue=self.amqp_queue,
                            prefetch=self.amqp_prefetch, ca_cert=self.amqp_ca_cert, certfile=self.amqp_certfile,
                            keyfile=self.amqp_keyfile, publish_exchange=self.amqp_publish_exchange,
                            handle_timeout=self.amqp_handle_timeout)


def fedmsg_config(environ: Mapping[str, str]) -> dict[str, Any]:
    """What ``fedmsg.d/hubs.py`` gives fedmsg: every key of Hubs and moksha, ``HUBS_*`` variables applied."""
    return fedmsg_dict(SETTINGS, environ)


def readme_tables() -> str:
    """The README's "Configuration" tables."""
    return markdown(SETTINGS, VARIABLES)


def main(argv: list[str]) -> int:
    """``--markdown``: print the README's tables; ``--readme PATH``: rewrite them in that file."""
    if argv == ["--markdown"]:
        sys.stdout.write(readme_tables())
        return 0
    if len(argv) == 2 and argv[0] == "--readme":
        with open(argv[1], encoding="utf-8") as f:
            text = f.read()
        with open(argv[1], "w", encoding="utf-8") as f:
            f.write(replace_section(text, readme_tables()))
        return 0
    sys.stderr.write("usage: python -m hubs.config --markdown | --readme README.md\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
