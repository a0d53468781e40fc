#!/usr/bin/env bash
# Private ClickHouse instance for Switchyard's tests.
#
#   scripts/clickhouse.sh start   # install if missing, write config, start, wait for SELECT 1
#   scripts/clickhouse.sh stop    # stop the instance started by `start` (pidfile)
#   scripts/clickhouse.sh env     # print `export SWITCHYARD_TEST_CLICKHOUSE_URL=...`
#   scripts/clickhouse.sh status  # exit 0 when the instance answers SELECT 1
#
# Idempotent: `start` on a running instance only re-checks it; `stop` on a stopped one is a
# no-op. Runs non-interactively (CI is root with no stdin). Everything lives under
# $SWITCHYARD_CH_DIR (default /tmp/switchyard-ch): config, data, tmp, logs, pidfile. The server
# listens on 127.0.0.1 only, HTTP $SWITCHYARD_CH_HTTP_PORT (18123), native TCP
# $SWITCHYARD_CH_TCP_PORT (19000), interserver $SWITCHYARD_CH_INTERSERVER_PORT (19009).
set -euo pipefail

CH_DIR="${SWITCHYARD_CH_DIR:-/tmp/switchyard-ch}"
HTTP_PORT="${SWITCHYARD_CH_HTTP_PORT:-18123}"
TCP_PORT="${SWITCHYARD_CH_TCP_PORT:-19000}"
INTERSERVER_PORT="${SWITCHYARD_CH_INTERSERVER_PORT:-19009}"
PIDFILE="$CH_DIR/clickhouse.pid"
URL="http://127.0.0.1:${HTTP_PORT}"

log() { echo "clickhouse.sh: $*" >&2; }

server_bin() {
    for candidate in /usr/sbin/clickhouse-server /usr/bin/clickhouse-server; do
        if [[ -x "$candidate" ]]; then
            echo "$candidate"
            return 0
        fi
    done
    if command -v clickhouse >/dev/null 2>&1; then
        echo "$(command -v clickhouse) server"
        return 0
    fi
    return 1
}

install_server() {
    if server_bin >/dev/null && command -v curl >/dev/null 2>&1; then
        return 0
    fi
    log "installing clickhouse-server and curl with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null
    apt-get install -y -q --no-install-recommends clickhouse-server curl ca-certificates </dev/null
    # The package enables a system service on the default ports; we never use it.
    if command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now clickhouse-server >/dev/null 2>&1 || true
    fi
}

# SQL over HTTP; prints the body, fails on a non-2xx status.
query() {
    curl -sS --fail-with-body --max-time 5 --data-binary "$1" "$URL/" 2>/dev/null \
        || curl -sS -f --max-time 5 --data-binary "$1" "$URL/"
}

answers() {
    [[ "$(curl -sS -f --max-time 2 --data-binary 'SELECT 1' "$URL/" 2>/dev/null)" == "1" ]]
}

running_pid() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

write_config() {
    mkdir -p "$CH_DIR"/{data,tmp,user_files,log,format_schemas}
    cat >"$CH_DIR/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>$CH_DIR/log/clickhouse-server.log</log>
        <errorlog>$CH_DIR/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>$HTTP_PORT</http_port>
    <tcp_port>$TCP_PORT</tcp_port>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <interserver_http_port>$INTERSERVER_PORT</interserver_http_port>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$CH_DIR/data/</path>
    <tmp_path>$CH_DIR/tmp/</tmp_path>
    <user_files_path>$CH_DIR/user_files/</user_files_path>
    <format_schema_path>$CH_DIR/format_schemas/</format_schema_path>
    <users_config>$CH_DIR/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
    <merge_tree>
        <max_suspicious_broken_parts>100</max_suspicious_broken_parts>
    </merge_tree>
</yandex>
EOF
    cat >"$CH_DIR/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>2000000000</max_memory_usage>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

start() {
    install_server
    if running_pid >/dev/null && answers; then
        log "already running at $URL (pid $(running_pid))"
        print_version
        return 0
    fi
    if answers; then
        log "something else already answers at $URL; refusing to start a second server"
        return 1
    fi
    write_config
    local bin
    bin="$(server_bin)"
    log "starting $bin with $CH_DIR/config.xml"
    # shellcheck disable=SC2086 # $bin may be "clickhouse server"
    (cd "$CH_DIR" && exec setsid $bin --config-file="$CH_DIR/config.xml" \
        </dev/null >>"$CH_DIR/log/stdout.log" 2>&1) &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 120); do
        if answers; then
            log "ready at $URL (pid $(cat "$PIDFILE"))"
            print_version
            return 0
        fi
        if ! running_pid >/dev/null; then
            log "server exited during start-up; last log lines:"
            tail -n 30 "$CH_DIR/log/stdout.log" "$CH_DIR/log/clickhouse-server.err.log" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.5
    done
    log "server did not answer SELECT 1 within 60 s"
    tail -n 30 "$CH_DIR/log/clickhouse-server.err.log" >&2 2>/dev/null || true
    return 1
}

print_version() {
    echo "clickhouse server version: $(query 'SELECT version()')"
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        log "not running"
        rm -f "$PIDFILE"
        return 0
    fi
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for 30 s; sending SIGKILL"
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    log "stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) answers ;;
    env) echo "export SWITCHYARD_TEST_CLICKHOUSE_URL=$URL" ;;
    *)
        echo "usage: $0 start|stop|status|env" >&2
        exit 2
        ;;
esac
