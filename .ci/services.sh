#!/usr/bin/env bash
# Throwaway PostgreSQL and Kafka for the test suite (`make test`).
#
#   bash .ci/services.sh up     start both (install/fetch what is missing), write var/services/env
#   bash .ci/services.sh down   stop both, remove their data; never fails if already stopped
#   bash .ci/services.sh status
#   bash .ci/services.sh stop-kafka | start-kafka | restart-kafka
#                               stop/start the running broker KEEPING its data and port
#                               (tests of broker outages; start-kafka waits until it answers)
#
# up is idempotent: a service that is already running and answering is kept, anything
# else (stale pid files, half-started runs) is cleaned up and started afresh.
#
# PostgreSQL: Debian's server binaries (/usr/lib/postgresql/*/bin; `apt-get install
#   postgresql` when absent), a private cluster in var/services/pg/data (or, when the
#   `postgres` user cannot reach the checkout, /tmp/carelog-pg-<hash> with var/services/pg
#   a symlink to it), trust auth on 127.0.0.1 only, no Unix socket, a free port, fsync off.
# Kafka: a single-node KRaft broker (broker+controller) from the jars on Maven Central,
#   fetched once with Maven into ${XDG_CACHE_HOME:-~/.cache}/carelog/kafka-<version>/libs,
#   data in var/services/kafka/data, log in var/services/kafka/server.log.
#
# Knobs (environment): CARELOG_SERVICES="postgres kafka" (which ones `up` starts),
#   CARELOG_KAFKA_VERSION (default below), CARELOG_KAFKA_START_TIMEOUT (s, default 90).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
HERE=$ROOT/.ci/services
STATE=$ROOT/var/services
ENV_FILE=$STATE/env

SERVICES=${CARELOG_SERVICES:-postgres kafka}

PG_DB=carelog_test
PG_SUPERUSER=postgres           # database role (trust auth); not necessarily the OS user
PG_LINK=$STATE/pg               # directory, or symlink to the /tmp fallback
PG_LOG=$STATE/pg.log

KAFKA_VERSION=${CARELOG_KAFKA_VERSION:-3.9.2}
KAFKA_START_TIMEOUT=${CARELOG_KAFKA_START_TIMEOUT:-90}
CACHE_DIR=${XDG_CACHE_HOME:-${HOME:?HOME is not set}/.cache}/carelog
KAFKA_HOME=$CACHE_DIR/kafka-$KAFKA_VERSION
KAFKA_STATE=$STATE/kafka

say() { printf 'services: %s\n' "$*" >&2; }
die() {
  printf 'services: ERROR: %s\n' "$*" >&2
  exit 1
}
# Show the end of a log file on stderr (for failures).
show_tail() {
  if [ -s "$1" ]; then
    printf 'services: ---- last lines of %s ----\n' "$1" >&2
    tail -n "${2:-30}" "$1" | sed 's/^/  | /' >&2
  fi
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
wants() { case " $SERVICES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
is_root() { [ "$(id -u)" -eq 0 ]; }

netutil() { python3 "$HERE/netutil.py" "$@"; }

# --------------------------------------------------------------------------- PostgreSQL

# Highest-versioned directory with Debian's server binaries, or nothing.
find_pg_bin() {
  local d
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

# The OS user running the server: postgres refuses to run as root.
if is_root; then
  PG_OS_USER=postgres
  as_pg() { (cd / && runuser -u "$PG_OS_USER" -- "$@"); }
else
  PG_OS_USER=$(id -un)
  as_pg() { (cd / && "$@"); }
fi

install_postgres() {
  local sudo=() log=$STATE/apt.log
  command -v apt-get >/dev/null ||
    die "no PostgreSQL server under /usr/lib/postgresql/*/bin and no apt-get to install one"
  if ! is_root; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      die "PostgreSQL server is not installed and installing it needs root (or password-less sudo): apt-get install postgresql"
    fi
  fi
  say "PostgreSQL server not found; installing Debian's postgresql package (log: ${log#"$ROOT"/})"
  : >"$log"
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300)
  if ! "${apt[@]}" update >>"$log" 2>&1; then
    show_tail "$log"
    die "apt-get update failed"
  fi
  if ! "${apt[@]}" install -y --no-install-recommends postgresql >>"$log" 2>&1; then
    show_tail "$log"
    die "apt-get install postgresql failed"
  fi
  # The package creates (and, where services may start, starts) a "main" cluster on
  # 5432. It was not there before, so stop it: nothing here uses it.
  if command -v pg_lsclusters >/dev/null; then
    local ver name port status rest
    while read -r ver name port status rest; do
      if [ "$status" = online ]; then
        say "stopping the cluster $ver/$name (port $port) the package started"
        "${sudo[@]}" pg_ctlcluster "$ver" "$name" stop >>"$log" 2>&1 || true
      fi
    done < <(pg_lsclusters -h 2>/dev/null || true)
  fi
  find_pg_bin >/dev/null || die "apt-get installed postgresql but no server binaries under /usr/lib/postgresql/*/bin"
}

ensure_pg_os_user() {
  is_root || return 0
  id -u "$PG_OS_USER" >/dev/null 2>&1 && return 0
  say "creating system user $PG_OS_USER to run PostgreSQL"
  useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql \
    --shell /usr/sbin/nologin "$PG_OS_USER" || die "could not create user $PG_OS_USER"
}

pg_port() { cat "$PG_LINK/port" 2>/dev/null || true; }

pg_alive() {
  local bin data port
  bin=$(find_pg_bin) || return 1
  data=$(readlink -f "$PG_LINK" 2>/dev/null)/data || return 1
  port=$(pg_port)
  [ -n "$port" ] && [ -f "$data/postmaster.pid" ] || return 1
  as_pg "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1 || return 1
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -d "$PG_DB" -U "$PG_SUPERUSER" >/dev/null 2>&1
}

pg_stop() {
  local real data pid bin i
  if [ -e "$PG_LINK" ] || [ -L "$PG_LINK" ]; then
    real=$(readlink -f "$PG_LINK" 2>/dev/null || echo "$PG_LINK")
    data=$real/data
    if [ -f "$data/postmaster.pid" ]; then
      if bin=$(find_pg_bin); then
        as_pg "$bin/pg_ctl" stop -D "$data" -m fast -w -t 30 >/dev/null 2>&1 || true
      fi
      # Belt and braces: the pid file outlived pg_ctl (or the binaries are gone).
      pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
      if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q postgres; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
    rm -rf "$PG_LINK"
    case "$real" in /tmp/carelog-pg-*) rm -rf "$real" ;; esac
  fi
}

# Makes var/services/pg a directory the server's OS user can write, or a symlink to one.
pg_make_base() {
  rm -rf "$PG_LINK"
  mkdir -p "$PG_LINK"
  is_root && chown "$PG_OS_USER": "$PG_LINK"
  if as_pg test -w "$PG_LINK" -a -x "$PG_LINK"; then
    return 0
  fi
  local fallback
  fallback=/tmp/carelog-pg-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
  say "$PG_OS_USER cannot write ${PG_LINK#"$ROOT"/}; using $fallback instead"
  rmdir "$PG_LINK"
  rm -rf "$fallback"
  mkdir -m 700 "$fallback" || die "could not create $fallback"
  is_root && chown "$PG_OS_USER": "$fallback"
  ln -s "$fallback" "$PG_LINK"
}

pg_up() {
  local bin
  if ! bin=$(find_pg_bin); then
    install_postgres
    bin=$(find_pg_bin)
  fi
  PG_VERSION=$("$bin/postgres" --version | awk '{ print $3 }')
  ensure_pg_os_user
  if pg_alive; then
    PG_PORT=$(pg_port)
    say "PostgreSQL already running on 127.0.0.1:$PG_PORT; keeping it"
    return 0
  fi
  pg_stop
  pg_make_base
  local real data port
  real=$(readlink -f "$PG_LINK")
  data=$real/data
  port=$(netutil ports 1)
  : >"$PG_LOG"
  if ! as_pg "$bin/initdb" -D "$data" -U "$PG_SUPERUSER" -A trust -E UTF8 --locale=C -N \
    >>"$PG_LOG" 2>&1; then
    show_tail "$PG_LOG"
    die "initdb failed (log: ${PG_LOG#"$ROOT"/})"
  fi
  # Files stay owned by the server user: these only truncate/append existing files.
  cat >"$data/pg_hba.conf" <<'EOF'
# carelog test cluster (.ci/services.sh): TCP on 127.0.0.1 only, no password.
host    all             all             127.0.0.1/32            trust
host    replication     all             127.0.0.1/32            trust
EOF
  cat >>"$data/postgresql.conf" <<EOF

# ---- carelog test cluster (.ci/services.sh); throwaway, so durability is off ----
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
EOF
  echo "$port" >"$real/port"
  # No -l: the server's output goes to pg_ctl's stdout, i.e. the log this shell opened
  # (so it works even when the server user cannot reach the checkout). 9>&- keeps the
  # lock file out of the server.
  if ! as_pg "$bin/pg_ctl" start -D "$data" -w -t 60 >>"$PG_LOG" 2>&1 </dev/null 9>&-; then
    show_tail "$PG_LOG"
    die "PostgreSQL did not start on 127.0.0.1:$port (log: ${PG_LOG#"$ROOT"/})"
  fi
  if ! "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$PG_SUPERUSER" "$PG_DB" >>"$PG_LOG" 2>&1; then
    show_tail "$PG_LOG"
    die "createdb $PG_DB failed"
  fi
  PG_PORT=$port
}

# --------------------------------------------------------------------------- Kafka

kafka_pid() { cat "$KAFKA_STATE/pid" 2>/dev/null || true; }

# The pid is ours only if it still runs kafka.Kafka with our server.properties.
kafka_pid_is_ours() {
  local pid=$1
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$KAFKA_STATE/server.properties"
}

kafka_alive() {
  local port
  port=$(cat "$KAFKA_STATE/port" 2>/dev/null || true)
  [ -n "$port" ] && kafka_pid_is_ours "$(kafka_pid)" && netutil kafka-ready 127.0.0.1 "$port"
}

kafka_stop() {
  local pid i
  pid=$(kafka_pid)
  if kafka_pid_is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      say "Kafka (pid $pid) ignored SIGTERM for 20 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 25; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
  fi
  # Keep server.log for post-mortems; everything else goes.
  rm -rf "$KAFKA_STATE/data" "$KAFKA_STATE/pid" "$KAFKA_STATE/port" \
    "$KAFKA_STATE/server.properties" "$KAFKA_STATE/format.log"
}

# Fetches the broker's runtime classpath once per version (and pom change) into the cache.
kafka_fetch() {
  local pom=$HERE/kafka/pom.xml stamp want
  want=$(sha256sum "$pom" | cut -c1-64)
  stamp=$KAFKA_HOME/.complete
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$KAFKA_HOME/libs" ]; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found: Maven is needed to fetch the Kafka jars"
  mkdir -p "$KAFKA_HOME"
  # Serialise fetches of the same version (several checkouts share the cache).
  exec 8>"$KAFKA_HOME/.lock"
  flock -w 600 8 || die "timed out waiting for another fetch into $KAFKA_HOME"
  if ! { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$KAFKA_HOME/libs" ]; }; then
    local t0 tmp=$KAFKA_HOME/libs.tmp.$$ log=$KAFKA_HOME/mvn.log
    t0=$(now)
    say "fetching Kafka $KAFKA_VERSION jars from Maven Central into $KAFKA_HOME (once per version)"
    rm -rf "$tmp"
    if ! (cd "$HERE/kafka" && mvn -B -q -Dstyle.color=never -f "$pom" \
      -Dkafka.version="$KAFKA_VERSION" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$tmp") >"$log" 2>&1 </dev/null; then
      show_tail "$log" 40
      rm -rf "$tmp"
      die "Maven could not fetch Kafka $KAFKA_VERSION (log: $log)"
    fi
    [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || die "Maven ran but kafka_2.13-$KAFKA_VERSION.jar is missing from $tmp"
    rm -rf "$KAFKA_HOME/libs" "$HERE/kafka/target"
    mv "$tmp" "$KAFKA_HOME/libs"
    echo "$want" >"$stamp"
    say "fetched $(find "$KAFKA_HOME/libs" -name '*.jar' | wc -l) jars in $(elapsed "$t0") s"
  fi
  exec 8>&-
}

JAVA_OPTS=(-Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError
  -Djava.awt.headless=true -Dlog4j.configuration="file:$HERE/kafka/log4j.properties")

# Formats the storage and launches the broker in the background (waited for later).
kafka_launch() {
  command -v java >/dev/null || die "java not found: a JRE (17+) is needed to run Kafka"
  kafka_fetch
  if kafka_alive; then
    KAFKA_PORT=$(cat "$KAFKA_STATE/port")
    KAFKA_REUSED=1
    say "Kafka already running on 127.0.0.1:$KAFKA_PORT; keeping it"
    return 0
  fi
  kafka_stop
  mkdir -p "$KAFKA_STATE/data"
  local port cport cluster_id
  read -r port cport <<<"$(netutil ports 2)"
  cluster_id=$(netutil kafka-cluster-id)
  cat >"$KAFKA_STATE/server.properties" <<EOF
# Single-node KRaft broker for tests, written by .ci/services.sh.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_STATE/data
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
num.network.threads=2
num.io.threads=4
EOF
  if ! java "${JAVA_OPTS[@]}" -cp "$KAFKA_HOME/libs/*" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$KAFKA_STATE/server.properties" >"$KAFKA_STATE/format.log" 2>&1 </dev/null; then
    show_tail "$KAFKA_STATE/format.log"
    die "formatting the Kafka storage failed"
  fi
  echo "$port" >"$KAFKA_STATE/port"
  KAFKA_PORT=$port
  KAFKA_CPORT=$cport
  # Not setsid: a Ctrl-C on `make test` reaches the broker too. Output and the lock fd
  # are redirected so nothing (make, a CI log pipe) waits on the broker.
  (cd "$KAFKA_STATE" && exec java "${JAVA_OPTS[@]}" -cp "$KAFKA_HOME/libs/*" kafka.Kafka \
    "$KAFKA_STATE/server.properties" >"$KAFKA_STATE/server.log" 2>&1 </dev/null 9>&-) &
  echo $! >"$KAFKA_STATE/pid"
  KAFKA_LAUNCHED_AT=$(now)
  KAFKA_DEADLINE=$((SECONDS + KAFKA_START_TIMEOUT))
}

kafka_wait() {
  [ -n "${KAFKA_REUSED:-}" ] && return 0
  local pid log=$KAFKA_STATE/server.log
  pid=$(kafka_pid)
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_tail "$log" 40
      die "Kafka exited during startup (log: ${log#"$ROOT"/})"
    fi
    if grep -q 'Kafka Server started' "$log" 2>/dev/null &&
      netutil kafka-ready 127.0.0.1 "$KAFKA_PORT"; then
      break
    fi
    if ((SECONDS >= KAFKA_DEADLINE)); then
      show_tail "$log" 40
      die "Kafka did not answer on 127.0.0.1:$KAFKA_PORT within $KAFKA_START_TIMEOUT s (log: ${log#"$ROOT"/})"
    fi
    sleep 0.3
  done
  say "Kafka answered $(elapsed "$KAFKA_LAUNCHED_AT") s after launch"
}

# Stops the broker but keeps data, port and config, so start-kafka brings the same one back.
kafka_pause() {
  local pid i
  pid=$(kafka_pid)
  [ -f "$KAFKA_STATE/server.properties" ] || die "no Kafka was started here (run up first)"
  if kafka_pid_is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$KAFKA_STATE/pid"
}

kafka_resume() {
  [ -f "$KAFKA_STATE/server.properties" ] || die "no Kafka was started here (run up first)"
  if kafka_alive; then
    say "Kafka already running"
    return 0
  fi
  KAFKA_PORT=$(cat "$KAFKA_STATE/port")
  local pid before
  # server.log is appended to: wait for a fresh "started" line, not the old one.
  before=$(grep -c 'Kafka Server started' "$KAFKA_STATE/server.log" 2>/dev/null || true)
  (cd "$KAFKA_STATE" && exec java "${JAVA_OPTS[@]}" -cp "$KAFKA_HOME/libs/*" kafka.Kafka \
    "$KAFKA_STATE/server.properties" >>"$KAFKA_STATE/server.log" 2>&1 </dev/null 9>&-) &
  echo $! >"$KAFKA_STATE/pid"
  KAFKA_LAUNCHED_AT=$(now)
  KAFKA_DEADLINE=$((SECONDS + KAFKA_START_TIMEOUT))
  pid=$(kafka_pid)
  while :; do
    kill -0 "$pid" 2>/dev/null || {
      show_tail "$KAFKA_STATE/server.log" 40
      die "Kafka exited during restart"
    }
    if [ "$(grep -c 'Kafka Server started' "$KAFKA_STATE/server.log" 2>/dev/null || true)" -gt "${before:-0}" ] &&
      netutil kafka-ready 127.0.0.1 "$KAFKA_PORT"; then
      break
    fi
    ((SECONDS < KAFKA_DEADLINE)) || die "Kafka did not come back within $KAFKA_START_TIMEOUT s"
    sleep 0.2
  done
  say "Kafka back on 127.0.0.1:$KAFKA_PORT in $(elapsed "$KAFKA_LAUNCHED_AT") s"
}

# --------------------------------------------------------------------------- commands

write_env() {
  local tmp=$ENV_FILE.tmp
  {
    echo "# Written by .ci/services.sh up; removed by down. Source with: set -a; . var/services/env"
    if wants postgres; then
      echo "CARELOG_TEST_POSTGRES_HOST=127.0.0.1"
      echo "CARELOG_TEST_POSTGRES_PORT=$PG_PORT"
      echo "CARELOG_TEST_POSTGRES_USER=$PG_SUPERUSER"
      echo "CARELOG_TEST_POSTGRES_DB=$PG_DB"
      echo "CARELOG_TEST_POSTGRES_DSN=postgresql://$PG_SUPERUSER@127.0.0.1:$PG_PORT/$PG_DB"
    fi
    if wants kafka; then
      echo "CARELOG_TEST_KAFKA=127.0.0.1:$KAFKA_PORT"
    fi
  } >"$tmp"
  mv "$tmp" "$ENV_FILE"
}

do_down() {
  kafka_stop
  pg_stop
  rm -f "$ENV_FILE" "$ENV_FILE.tmp"
}

UP_OK=
on_up_exit() {
  if [ -z "$UP_OK" ]; then
    say "up failed; stopping whatever was started"
    do_down >/dev/null 2>&1 || true
  fi
}

cmd_up() {
  local t0 summary=()
  t0=$(now)
  for s in $SERVICES; do
    case $s in postgres | kafka) ;; *) die "unknown service '$s' in CARELOG_SERVICES" ;; esac
  done
  command -v python3 >/dev/null || die "python3 not found (used to pick free ports)"
  trap on_up_exit EXIT
  rm -f "$ENV_FILE"
  # Kafka boots in the background while PostgreSQL is set up.
  if wants kafka; then kafka_launch; fi
  if wants postgres; then pg_up; fi
  if wants kafka; then kafka_wait; fi
  write_env
  UP_OK=1
  if wants postgres; then
    summary+=("PostgreSQL $PG_VERSION on 127.0.0.1:$PG_PORT (db $PG_DB, user $PG_SUPERUSER, data $(readlink -f "$PG_LINK")/data)")
  fi
  if wants kafka; then
    summary+=("Kafka $KAFKA_VERSION (KRaft) on 127.0.0.1:$KAFKA_PORT${KAFKA_CPORT:+ (controller :$KAFKA_CPORT)}")
  fi
  local line item
  line="up in $(elapsed "$t0") s:"
  for item in "${summary[@]}"; do line+=" $item;"; done
  say "$line env in ${ENV_FILE#"$ROOT"/}"
}

cmd_down() {
  local t0
  t0=$(now)
  do_down
  say "down in $(elapsed "$t0") s"
}

cmd_status() {
  local rc=0
  if pg_alive; then echo "postgres: up on 127.0.0.1:$(pg_port)"; else echo "postgres: down"; rc=1; fi
  if kafka_alive; then echo "kafka: up on 127.0.0.1:$(cat "$KAFKA_STATE/port")"; else echo "kafka: down"; rc=1; fi
  return $rc
}

main() {
  local cmd=${1:-}
  case $cmd in
    up | down | status) ;;
    stop-kafka | start-kafka | restart-kafka) ;;
    *)
      echo "usage: $0 up|down|status|stop-kafka|start-kafka|restart-kafka" >&2
      exit 2
      ;;
  esac
  mkdir -p "$STATE"
  # One up/down at a time per checkout. Children that outlive us get 9>&-.
  exec 9>"$STATE/.lock"
  flock -w 300 9 || die "another .ci/services.sh is running in this checkout (lock: ${STATE#"$ROOT"/}/.lock)"
  "cmd_${cmd//-/_}"
}

cmd_stop_kafka() { kafka_pause; }
cmd_start_kafka() { kafka_resume; }
cmd_restart_kafka() {
  kafka_pause
  kafka_resume
}

main "$@"
