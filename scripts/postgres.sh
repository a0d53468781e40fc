#!/usr/bin/env bash
# Private PostgreSQL instance for Switchyard's tests (the state store's PostgreSQL engine).
#
#   scripts/postgres.sh start   # install if missing, initdb once, start, create the test role and database
#   scripts/postgres.sh stop    # stop the instance started by `start`
#   scripts/postgres.sh env     # print the `export SWITCHYARD_TEST_POSTGRES_…` lines
#   scripts/postgres.sh status  # exit 0 when the instance accepts connections
#
# Idempotent: `start` on a running instance only re-checks it and the role/database; `stop`
# on a stopped one is a no-op. Runs non-interactively (CI is root with no stdin). The
# server refuses to run as root, so as root every server command runs as Debian's
# `postgres` OS user; as another user it runs as that user. Everything lives under
# $SWITCHYARD_PG_DIR (default /tmp/switchyard-pg): data/, run/ (socket), server.log.
# The server listens on 127.0.0.1:$SWITCHYARD_PG_PORT (15432) only; TCP logins need a
# password (scram-sha-256), the socket under run/ trusts the OS user that owns the server.
# Durability is traded for speed (fsync=off): this instance holds nothing but test data.
set -euo pipefail

PG_DIR="${SWITCHYARD_PG_DIR:-/tmp/switchyard-pg}"
PORT="${SWITCHYARD_PG_PORT:-15432}"
DB_USER="switchyard"
DB_NAME="switchyard"
# A fixed test-only password: the tests exercise password authentication with it.
DB_PASSWORD="switchyard-test"
DATA="$PG_DIR/data"
RUN="$PG_DIR/run"
LOG="$PG_DIR/server.log"
# The server user may not be able to read the caller's working directory.
cd /

log() { echo "postgres.sh: $*" >&2; }

# The newest installed server's bin directory (Debian: /usr/lib/postgresql/<major>/bin).
bin_dir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]] || return 1
    echo "$dir"
}

install_server() {
    if bin_dir >/dev/null; then
        return 0
    fi
    if [[ "$(id -u)" -ne 0 ]]; then
        log "PostgreSQL is not installed; run as root (or: sudo apt-get install postgresql)"
        return 1
    fi
    log "installing postgresql with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null
    apt-get install -y -q --no-install-recommends postgresql </dev/null
    # The package may start a system cluster on 5432; we never use it.
    if command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now postgresql >/dev/null 2>&1 || true
    fi
}

# Runs a command as the OS user that owns the server.
as_owner() {
    if [[ "$(id -u)" -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

answers() {
    local bin
    bin="$(bin_dir)" || return 1
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2
}

init_cluster() {
    local bin="$1"
    mkdir -p "$PG_DIR"
    if [[ "$(id -u)" -eq 0 ]]; then
        chown postgres:postgres "$PG_DIR"
    fi
    chmod 700 "$PG_DIR"
    local major
    major="$(basename "$(dirname "$bin")")"
    if [[ -f "$DATA/PG_VERSION" && "$(cat "$DATA/PG_VERSION")" != "$major" ]]; then
        log "data directory is from PostgreSQL $(cat "$DATA/PG_VERSION"), server is $major: recreating it"
        rm -rf "$DATA"
    fi
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        rm -rf "$DATA"
        log "initdb $DATA"
        as_owner "$bin/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C \
            --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 \
            || { tail -n 20 "$PG_DIR/initdb.log" >&2; return 1; }
    fi
    as_owner mkdir -p "$RUN"
}

psql_admin() {
    local bin
    bin="$(bin_dir)"
    as_owner "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$RUN" -p "$PORT" -U postgres -d postgres "$@"
}

ensure_role_and_db() {
    psql_admin -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
            CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
        ELSE
            ALTER ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
        END IF;
    END \$\$;"
    # The tests drop their databases `WITH (FORCE)`, which must also end an autovacuum
    # worker that happens to be in one; without pg_signal_backend that fails ("must be a
    # member of the role whose process is being terminated or member of pg_signal_backend").
    psql_admin -c "GRANT pg_signal_backend TO $DB_USER"
    if [[ "$(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != "1" ]]; then
        psql_admin -c "CREATE DATABASE $DB_NAME OWNER $DB_USER"
    fi
}

start() {
    install_server
    local bin
    bin="$(bin_dir)"
    if answers; then
        if [[ -f "$DATA/postmaster.pid" ]]; then
            ensure_role_and_db
            log "already running on 127.0.0.1:$PORT"
            print_version
            return 0
        fi
        log "something else already answers on 127.0.0.1:$PORT; refusing to start a second server"
        return 1
    fi
    init_cluster "$bin"
    log "starting $bin/postgres on 127.0.0.1:$PORT"
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$RUN \
         -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        >/dev/null || { log "server did not start; last log lines:"; tail -n 30 "$LOG" >&2; return 1; }
    for _ in $(seq 1 60); do
        answers && break
        sleep 0.5
    done
    answers || { log "server does not accept connections"; tail -n 30 "$LOG" >&2; return 1; }
    ensure_role_and_db
    log "ready on 127.0.0.1:$PORT"
    print_version
}

print_version() {
    echo "postgres server version: $(psql_admin -tA -c 'SHOW server_version')"
}

stop() {
    local bin
    if ! bin="$(bin_dir)" || [[ ! -f "$DATA/postmaster.pid" ]]; then
        log "not running"
        return 0
    fi
    as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null 2>&1 || {
        log "pg_ctl stop failed (already stopped?)"
        return 0
    }
    log "stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) answers ;;
    env)
        echo "export SWITCHYARD_TEST_POSTGRES_URL=postgres://$DB_USER@127.0.0.1:$PORT/$DB_NAME"
        echo "export SWITCHYARD_TEST_POSTGRES_PASSWORD=$DB_PASSWORD"
        ;;
    *)
        echo "usage: $0 start|stop|status|env" >&2
        exit 2
        ;;
esac
