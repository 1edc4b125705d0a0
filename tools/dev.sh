#!/usr/bin/env bash
# Development helper behind `make run` and `make test`.
#
#   tools/dev.sh run       venv + services + schema + demo data, then fedmsg-hub (Ctrl-C stops it)
#   tools/dev.sh fleet [N] the same services, N fedmsg-hub processes (ports 5001..500N) and
#                          HAProxy on port 5000 in front of them (Ctrl-C stops all of it)
#   tools/dev.sh test      venv + services, then pytest (extra arguments go to pytest);
#                          `tools/dev.sh test -m unit`: the tests that need no service, none started
#   tools/dev.sh bench X   venv + services, then bench/X.py (see bench/README.md)
#   tools/dev.sh setup     only create the venv and install Hubs into it
#   tools/dev.sh services  only bring up the private PostgreSQL cluster and memcached
#   tools/dev.sh stop      stop the private services and the relay
#
# HUBS_VENV names an existing virtualenv to use as it is (never created or installed into);
# the default is .venv, created and kept up to date with setup.py. HUBS_DEV_DIR moves .dev
# (scratch files, private services' data); HUBS_DEV_RELAY=0 starts no fedmsg-relay.
#
# Services: HUBS_DB_DSN / HUBS_MEMCACHED (run) and HUBS_TEST_DSN / HUBS_TEST_MEMCACHED
# (test) point at existing servers. When unset, a private PostgreSQL cluster
# (.dev/pg, port 54329) and a private memcached (port 11219) are started.
# RabbitMQ (tests): HUBS_TEST_AMQP_URL, else the one on 127.0.0.1:5672, else a private
# node (.dev/rabbitmq, port 56729). Under CI=true, tests fail when no broker answers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEV="${HUBS_DEV_DIR:-$ROOT/.dev}"
VENV="${HUBS_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3.11}"
PG_PORT="${HUBS_DEV_PG_PORT:-54329}"
MC_PORT="${HUBS_DEV_MC_PORT:-11219}"
AMQP_PORT="${HUBS_DEV_AMQP_PORT:-56729}"
cd "$ROOT"
mkdir -p "$DEV"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

apt_install() {
  # Debian packages the project needs on a fresh machine.
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} (apt)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null \
    && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || die "could not install ${missing[*]}; install them and try again"
}

ensure_venv() {
  if [ -n "${HUBS_VENV:-}" ]; then
    # Somebody else's environment (a shared one, CI's): used as it is, never installed into.
    [ -x "$VENV/bin/python" ] && [ -x "$VENV/bin/fedmsg-hub" ] || die "HUBS_VENV=$VENV is not a virtualenv with Hubs installed"
    return 0
  fi
  command -v "$PY" >/dev/null || PY=python3
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.hubs-installed"
  if [ ! -f "$stamp" ] || [ setup.py -nt "$stamp" ]; then
    apt_install libkrb5-dev gcc  # fedmsg_meta_fedora_infrastructure -> gssapi builds from source
    say "installing Hubs and its dependencies into $VENV"
    "$VENV/bin/pip" install -q --upgrade 'pip>=24' 'setuptools>=76,<81' wheel
    "$VENV/bin/pip" install -q -e '.[test]'
    touch "$stamp"
  fi
}

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do [ -x "$dir/initdb" ] && { echo "$dir"; return; }; done
  command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return; }
  return 1
}

# Run a PostgreSQL server command as an unprivileged user (initdb refuses root).
pg_run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

ensure_private_postgres() {
  local bin; bin="$(pg_bin)" || { apt_install postgresql; bin="$(pg_bin)"; } || die "PostgreSQL server binaries not found"
  local data="$DEV/pg" sock="$DEV/pg-sock"
  mkdir -p "$sock"
  if [ "$(id -u)" = 0 ]; then id postgres >/dev/null 2>&1 || die "no 'postgres' user to run the private cluster"; fi
  if [ ! -f "$data/PG_VERSION" ]; then
    say "creating a private PostgreSQL cluster in $data"
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres "$data" "$sock"
    pg_run "$bin/initdb" -D "$data" -U hubs --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  [ "$(id -u)" = 0 ] && chown postgres "$sock"
  if ! pg_run "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    pg_run "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 30 \
      -o "-p $PG_PORT -k $sock -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" start >/dev/null
  fi
}

ensure_database() {  # $1 = database name on the private cluster
  "$VENV/bin/python" - "$PG_PORT" "$1" <<'PYEOF'
import sys, psycopg2
port, name = sys.argv[1], sys.argv[2]
conn = psycopg2.connect(host="127.0.0.1", port=port, user="hubs", dbname="postgres")
conn.autocommit = True
cur = conn.cursor()
cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
if not cur.fetchone():
    cur.execute(f'CREATE DATABASE "{name}"')
PYEOF
}

ensure_private_memcached() {
  command -v memcached >/dev/null || apt_install memcached
  if ! (exec 3<>/dev/tcp/127.0.0.1/"$MC_PORT") 2>/dev/null; then
    say "starting memcached on 127.0.0.1:$MC_PORT"
    local user=(); [ "$(id -u)" = 0 ] && user=(-u nobody)
    memcached -d "${user[@]}" -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 128 -c 4096 -P "$DEV/memcached.pid"
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$MC_PORT") 2>/dev/null && break; sleep 0.1; done
  fi
}

ensure_private_rabbitmq() {
  # A RabbitMQ node of our own (Debian's rabbitmq-server) on $AMQP_PORT, data in .dev/rabbitmq.
  command -v rabbitmq-server >/dev/null || apt_install rabbitmq-server
  local dir="$DEV/rabbitmq" node="hubsdev@localhost"
  if ! (exec 3<>/dev/tcp/127.0.0.1/"$AMQP_PORT") 2>/dev/null; then
    say "starting a private RabbitMQ on 127.0.0.1:$AMQP_PORT"
    mkdir -p "$dir"
    printf 'listeners.tcp.local = 127.0.0.1:%s\nloopback_users = none\n' "$AMQP_PORT" >"$dir/rabbitmq.conf"
    echo '[].' >"$dir/enabled_plugins"
    [ "$(id -u)" = 0 ] && chown -R rabbitmq:rabbitmq "$dir"
    RABBITMQ_NODENAME="$node" RABBITMQ_DIST_PORT=$((AMQP_PORT + 1000)) RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
      RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" \
      RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" RABBITMQ_PID_FILE="$dir/pid" \
      nohup rabbitmq-server >"$DEV/rabbitmq.log" 2>&1 &
    for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/"$AMQP_PORT") 2>/dev/null && return 0; sleep 0.2; done
    die "RabbitMQ did not start (see $DEV/rabbitmq.log and $dir/log)"
  fi
}

ensure_test_amqp() {
  # HUBS_TEST_AMQP_URL if set; else the machine's RabbitMQ on 5672; else a private one.
  [ -n "${HUBS_TEST_AMQP_URL:-}" ] && return 0
  if (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then return 0; fi
  ensure_private_rabbitmq
  export HUBS_TEST_AMQP_URL="amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2F"
}

ensure_test_services() {
  # Tests and benchmarks: existing servers if named, else the private ones.
  if [ -z "${HUBS_TEST_DSN:-}" ]; then
    ensure_private_postgres
    export HUBS_TEST_DSN="host=127.0.0.1 port=$PG_PORT user=hubs dbname=postgres"
  fi
  if [ -z "${HUBS_TEST_MEMCACHED:-}" ]; then
    ensure_private_memcached; export HUBS_TEST_MEMCACHED="127.0.0.1:$MC_PORT"
  fi
}

start_canned_services() {
  # Offline stand-ins for Badges, Bodhi, Pagure and Fedocal, so every widget has data.
  local port="${HUBS_DEV_SERVICES_PORT:-5099}"
  if ! (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
    say "starting canned Fedora services on 127.0.0.1:$port (set HUBS_SERVICES to use real ones)"
    nohup "$VENV/bin/python" -m hubs.demo.services --port "$port" >"$DEV/services.log" 2>&1 &
    echo $! >"$DEV/services.pid"
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
  fi
  export HUBS_SERVICES="http://127.0.0.1:$port" HUBS_ALLOW_PRIVATE_URLS=1
}

ensure_oidc_provider_installed() {
  if [ ! -d tests/oidc/node_modules/oidc-provider ]; then
    command -v npm >/dev/null || apt_install nodejs npm
    say "installing the local OpenID Connect provider (npm, tests/oidc)"
    npm ci --prefix tests/oidc --no-audit --no-fund >/dev/null
  fi
}

ensure_axe_installed() {
  # axe-core, injected into pages by the accessibility browser tests (tests/test_browser_a11y.py).
  if [ ! -f tests/axe/node_modules/axe-core/axe.min.js ]; then
    command -v npm >/dev/null || apt_install nodejs npm
    say "installing axe-core (npm, tests/axe)"
    npm ci --prefix tests/axe --no-audit --no-fund >/dev/null
  fi
}

start_dev_login() {
  # A real OIDC provider (node-oidc-provider) whose login form takes any account name:
  # for trying login and editing locally. HUBS_DEV_LOGIN=0 or HUBS_OIDC_ISSUER turn it off.
  local port="${HUBS_DEV_OIDC_PORT:-5098}" web_port="${HUBS_WEB_PORT:-5000}"
  ensure_oidc_provider_installed
  if ! (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
    say "starting the development login provider on 127.0.0.1:$port (any account name logs in)"
    nohup node tests/oidc/provider.mjs "$port" "http://127.0.0.1:$web_port/oidc/callback" \
      dev-client-secret-0123456789abcdef >"$DEV/oidc.log" 2>&1 &
    echo $! >"$DEV/oidc.pid"
    for _ in $(seq 50); do grep -q ready "$DEV/oidc.log" 2>/dev/null && break; sleep 0.1; done
  fi
  export HUBS_OIDC_ISSUER="http://127.0.0.1:$port" HUBS_OIDC_CLIENT_ID=hubs
  export HUBS_OIDC_CLIENT_SECRET=dev-client-secret-0123456789abcdef
  export HUBS_SESSION_SECRET="${HUBS_SESSION_SECRET:-dev-session-secret-not-for-production-use}"
  export HUBS_ADMINS="${HUBS_ADMINS:-ralph}"
}

start_relay() {
  # fedmsg-relay lets `fedmsg-logger` (and any script) put messages on the bus.
  if [ -f "$DEV/relay.pid" ] && kill -0 "$(cat "$DEV/relay.pid")" 2>/dev/null; then return; fi
  say "starting fedmsg-relay (fedmsg-logger -> bus)"
  nohup "$VENV/bin/fedmsg-relay" >"$DEV/relay.log" 2>&1 &
  echo $! >"$DEV/relay.pid"
}

prepare_run() {
  # Everything `run` and `fleet` need before the hub processes start.
  if [ -z "${HUBS_DB_DSN:-}" ]; then
    ensure_private_postgres; ensure_database hubs
    export HUBS_DB_DSN="host=127.0.0.1 port=$PG_PORT user=hubs dbname=hubs"
  fi
  if [ -z "${HUBS_MEMCACHED:-}" ]; then
    ensure_private_memcached; export HUBS_MEMCACHED="127.0.0.1:$MC_PORT"
  fi
  if [ -z "${HUBS_SERVICES:-}" ]; then start_canned_services; fi
  if [ -z "${HUBS_OIDC_ISSUER:-}" ] && [ "${HUBS_DEV_LOGIN:-1}" != 0 ]; then start_dev_login; fi
  # The demo's history comes through the backfill from the canned datagrepper on first start (in the
  # background), not from populate.py: HUBS_BACKFILL_AT_START=0 loads populate's three weeks instead.
  export HUBS_BACKFILL_AT_START="${HUBS_BACKFILL_AT_START:-1}"
  say "migrating and loading demo data"
  if [ "$HUBS_BACKFILL_AT_START" = 1 ]; then "$VENV/bin/python" populate.py --no-messages
  else "$VENV/bin/python" populate.py; fi
  if [ "${HUBS_DEV_RELAY:-1}" != 0 ]; then start_relay; fi
}

haproxy_bin() { command -v haproxy || { [ -x /usr/sbin/haproxy ] && echo /usr/sbin/haproxy; }; }

start_labelled() {
  # start_labelled LABEL COMMAND...: COMMAND in the background, each line of its output prefixed
  # with [LABEL]; its pid goes to STARTED, sed's to LABELLERS. Through a FIFO rather than a
  # process substitution (`cmd > >(sed ...) &`), so that $! is the command's pid whatever bash
  # does with process substitutions, and sed ends by itself once the command's output closes.
  local label="$1" fifo="$DEV/fleet-$1.out"; shift
  rm -f "$fifo"; mkfifo "$fifo"
  sed -u "s/^/[$label] /" <"$fifo" &
  LABELLERS+=($!)
  "$@" >"$fifo" 2>&1 &
  STARTED=$!
}

stopped_within() {  # stopped_within SECONDS PID...: true once none of the PIDs runs, false after SECONDS
  local tenths=$(($1 * 10)) pid running; shift
  while :; do
    running=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && running=1 && break; done
    [ "$running" = 0 ] && return 0
    [ "$tenths" -le 0 ] && return 1
    tenths=$((tenths - 1)); sleep 0.1
  done
}

how_it_ended() {  # an exit status as words: "status 1", "killed by SIGKILL"
  if [ "$1" -gt 128 ] && [ "$1" -lt 160 ]; then echo "killed by SIG$(kill -l $(($1 - 128)))"; else echo "status $1"; fi
}

run_fleet() {
  # N hub processes on ports LB+1..LB+N behind HAProxy on LB (HUBS_WEB_PORT, default 5000).
  # They share PostgreSQL, memcached and the bus (fedmsg.d/base.py: each binds the first
  # free hubs.hub endpoint and subscribes to all), and the session secret.
  # A hub process that dies is taken out by HAProxy's health check and the others serve
  # (as in production, docs/deploy.md); the fleet stops when HAProxy dies, when no hub is
  # left, or on Ctrl-C / SIGTERM, and then stops all of its processes within seconds.
  local n="$1" host="${HUBS_WEB_HOST:-127.0.0.1}" lb="${HUBS_WEB_PORT:-5000}" haproxy
  haproxy="$(haproxy_bin)" || { apt_install haproxy; haproxy="$(haproxy_bin)"; } || die "haproxy not found"
  [ "$n" -le "${HUBS_BUS_SLOTS:-8}" ] || die "fedmsg.d/base.py lists ${HUBS_BUS_SLOTS:-8} bus endpoints; raise HUBS_BUS_SLOTS"
  export HUBS_WEB_PORT="$lb"  # the dev login sends people back through the balancer
  prepare_run
  export HUBS_OIDC_REDIRECT_URI="${HUBS_OIDC_REDIRECT_URI:-http://$host:$lb/oidc/callback}"
  # FLEET, LABELLERS and TICK are global on purpose: the EXIT trap may run after run_fleet has
  # returned, when its locals are gone; with an empty list, `kill` stopped nothing and a
  # bare `wait` waited forever for the relay and services prepare_run leaves running
  # (make fleet then hung, HAProxy still on the port).
  FLEET=() LABELLERS=() TICK=""
  local -A names=()
  local servers=() i demo
  # Background jobs of a script ignore Ctrl-C: stop them ourselves, on any exit.
  stop_fleet() {
    trap - INT TERM EXIT
    [ ${#FLEET[@]} -gt 0 ] || return 0
    say "stopping the fleet"
    kill -TERM "${FLEET[@]}" 2>/dev/null || true
    if ! stopped_within 5 "${FLEET[@]}"; then
      say "still running after 5 s: killing them"
      kill -KILL "${FLEET[@]}" 2>/dev/null || true
    fi
    stopped_within 2 "${LABELLERS[@]}" || kill -KILL "${LABELLERS[@]}" 2>/dev/null || true
    [ -z "$TICK" ] || kill "$TICK" 2>/dev/null || true
    wait "${FLEET[@]}" "${LABELLERS[@]}" 2>/dev/null || true
    rm -f "$DEV"/fleet-*.out
  }
  trap stop_fleet EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  for i in $(seq 1 "$n"); do
    # One demo feed for the fleet (the first process), not one per process.
    demo=0; [ "$i" = 1 ] && demo="${HUBS_DEMO_FEED:-1}"
    start_labelled "hub$i" env HUBS_DEMO_FEED="$demo" HUBS_WEB_PORT=$((lb + i)) "$VENV/bin/fedmsg-hub"
    FLEET+=("$STARTED"); names[$STARTED]="hub$i on $host:$((lb + i)) (pid $STARTED)"; servers+=("$host:$((lb + i))")
  done
  "$VENV/bin/python" tools/haproxy_cfg.py --bind "$host:$lb" "${servers[@]}" >"$DEV/haproxy.cfg"
  "$haproxy" -c -q -f "$DEV/haproxy.cfg" || die "bad HAProxy configuration ($DEV/haproxy.cfg)"
  start_labelled haproxy "$haproxy" -db -f "$DEV/haproxy.cfg"
  local balancer="$STARTED"
  FLEET+=("$balancer"); names[$balancer]="HAProxy on $host:$lb (pid $balancer)"
  for i in "${FLEET[@]}"; do say "${names[$i]}"; done
  say "Hubs on http://$host:$lb/designteam through HAProxy ($DEV/haproxy.cfg)  (Ctrl-C stops all)"
  local live=("${FLEET[@]}") died status hubs_left pid rest
  while :; do
    died="" status=0
    # bash 5.2's `wait -n PID...` never returns for a process that ended while the script
    # was doing something else (it is reaped and forgotten; `wait PID` still has its status):
    # look for one first, and bound each wait with a 1-s ticker so that such a death, in the
    # moment between this look and the wait, is seen on the next turn.
    for pid in "${live[@]}"; do
      if ! kill -0 "$pid" 2>/dev/null; then died="$pid"; wait "$pid" 2>/dev/null || status=$?; break; fi
    done
    if [ -z "$died" ]; then
      sleep 1 & TICK=$!
      wait -n -p died "${live[@]}" "$TICK" 2>/dev/null || status=$?
      if [ -z "$died" ] || [ "$died" = "$TICK" ]; then continue; fi
    fi
    rest=(); for pid in "${live[@]}"; do [ "$pid" = "$died" ] || rest+=("$pid"); done
    live=("${rest[@]}")
    if [ "$died" = "$balancer" ]; then
      say "${names[$died]} exited ($(how_it_ended "$status")): nothing answers on $host:$lb; stopping the fleet"
      return 1
    fi
    hubs_left=$((${#live[@]} - 1))
    if [ "$hubs_left" -eq 0 ]; then
      say "${names[$died]} exited ($(how_it_ended "$status")), the last hub process: stopping the fleet"
      return 1
    fi
    say "${names[$died]} exited ($(how_it_ended "$status")): HAProxy takes it out, $hubs_left other(s) serve (Ctrl-C stops all)"
  done
}

cmd="${1:-run}"; shift || true
case "$cmd" in
  run)
    ensure_venv
    prepare_run
    export HUBS_DEMO_FEED="${HUBS_DEMO_FEED:-1}"  # a realistic bus message every few seconds (0: off)
    say "Hubs on http://${HUBS_WEB_HOST:-127.0.0.1}:${HUBS_WEB_PORT:-5000}/designteam  (Ctrl-C stops it)"
    exec "$VENV/bin/fedmsg-hub" "$@"
    ;;
  fleet)
    n="${1:-3}"
    [[ "$n" =~ ^[1-9]$ ]] || die "usage: tools/dev.sh fleet [N]  (N = 1..9 hub processes)"
    ensure_venv
    run_fleet "$n"
    ;;
  test)
    ensure_venv
    if [ "${1:-}" = -m ] && [ "${2:-}" = unit ]; then
      exec "$VENV/bin/python" -m pytest "$@"  # the unit bucket needs no service (tests/buckets.py)
    fi
    ensure_test_services
    ensure_test_amqp
    command -v chromium >/dev/null || apt_install chromium
    haproxy_bin >/dev/null || apt_install haproxy  # tests/test_fleet.py
    ensure_oidc_provider_installed
    ensure_axe_installed
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  setup)
    ensure_venv
    ;;
  bench)
    ensure_venv
    ensure_test_services
    ensure_test_amqp
    command -v wrk >/dev/null || apt_install wrk
    script="${1:?usage: tools/dev.sh bench NAME [args]}"; shift
    if [ "$script" = fleet ]; then haproxy_bin >/dev/null || apt_install haproxy; fi
    exec "$VENV/bin/python" "bench/$script.py" "$@"
    ;;
  services)
    ensure_venv; ensure_private_postgres; ensure_database hubs; ensure_private_memcached
    echo "HUBS_DB_DSN='host=127.0.0.1 port=$PG_PORT user=hubs dbname=hubs' HUBS_MEMCACHED=127.0.0.1:$MC_PORT"
    ;;
  stop)
    [ -f "$DEV/relay.pid" ] && kill "$(cat "$DEV/relay.pid")" 2>/dev/null || true
    [ -f "$DEV/services.pid" ] && kill "$(cat "$DEV/services.pid")" 2>/dev/null || true
    [ -f "$DEV/oidc.pid" ] && kill "$(cat "$DEV/oidc.pid")" 2>/dev/null || true
    # memcached drops to 'nobody' before writing its pid file, so find it by its port.
    pkill -f "memcached -d .*-p $MC_PORT " 2>/dev/null || true
    for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$MC_PORT") 2>/dev/null || break; sleep 0.1; done
    if [ -d "$DEV/rabbitmq" ] && (exec 3<>/dev/tcp/127.0.0.1/"$AMQP_PORT") 2>/dev/null; then
      rabbitmqctl -n hubsdev@localhost shutdown >/dev/null 2>&1 || true
    fi
    if bin="$(pg_bin)" && [ -f "$DEV/pg/PG_VERSION" ]; then pg_run "$bin/pg_ctl" -D "$DEV/pg" -m fast stop || true; fi
    ;;
  *) die "unknown command $cmd (run, fleet, test, bench, setup, services, stop)";;
esac
