#!/usr/bin/env bash
# Private Redis instance for Switchyard's tests (rate limits, `backend: redis`).
#
#   scripts/redis.sh start   # install if missing, start, wait for PING
#   scripts/redis.sh stop    # stop the instance started by `start` (pidfile)
#   scripts/redis.sh env     # print `export SWITCHYARD_TEST_REDIS_URL=...`
#   scripts/redis.sh status  # exit 0 when the instance answers PING
#
# Idempotent: `start` on a running instance only re-checks it; `stop` on a stopped one is a
# no-op. Runs non-interactively (CI is root with no stdin). Debian's `redis-server` (Valkey
# is wire-compatible). Everything lives under $SWITCHYARD_REDIS_DIR (default
# /tmp/switchyard-redis): log and pidfile. The server listens on 127.0.0.1:$SWITCHYARD_REDIS_PORT
# (16379) only, with no persistence (no RDB snapshots, no AOF): a restart starts empty.
set -euo pipefail

REDIS_DIR="${SWITCHYARD_REDIS_DIR:-/tmp/switchyard-redis}"
PORT="${SWITCHYARD_REDIS_PORT:-16379}"
PIDFILE="$REDIS_DIR/redis.pid"
URL="redis://127.0.0.1:${PORT}"

log() { echo "redis.sh: $*" >&2; }

install_server() {
    if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
        return 0
    fi
    log "installing redis-server with apt-get"
    local sudo_cmd=()
    if [[ "$(id -u)" -ne 0 ]]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -q </dev/null
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends redis-server </dev/null
    # The package may enable a system service on the default port; we never use it.
    if command -v systemctl >/dev/null 2>&1; then
        "${sudo_cmd[@]}" systemctl disable --now redis-server >/dev/null 2>&1 || true
    fi
}

answers() {
    [[ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" == "PONG" ]]
}

running_pid() {
    [[ -f "$PIDFILE" ]] || return 1
    local pid
    pid="$(cat "$PIDFILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
    install_server
    if running_pid >/dev/null && answers; then
        log "already running at $URL (pid $(running_pid))"
        return 0
    fi
    if answers; then
        log "something else already answers at $URL; refusing to start a second server"
        return 1
    fi
    mkdir -p "$REDIS_DIR"
    log "starting redis-server on 127.0.0.1:$PORT"
    (cd "$REDIS_DIR" && exec setsid redis-server --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no \
        --dir "$REDIS_DIR" --daemonize no --loglevel warning --logfile "$REDIS_DIR/redis.log" \
        </dev/null >>"$REDIS_DIR/stdout.log" 2>&1) &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 100); do
        if answers; then
            log "ready at $URL (pid $(cat "$PIDFILE")), $(redis-server --version | cut -d' ' -f1-3)"
            return 0
        fi
        if ! running_pid >/dev/null; then
            log "server exited during start-up; last log lines:"
            tail -n 30 "$REDIS_DIR/redis.log" "$REDIS_DIR/stdout.log" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.1
    done
    log "server did not answer PING within 10 s"
    tail -n 30 "$REDIS_DIR/redis.log" >&2 2>/dev/null || true
    return 1
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        log "not running"
        rm -f "$PIDFILE"
        return 0
    fi
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    log "stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) answers ;;
    env) echo "export SWITCHYARD_TEST_REDIS_URL=$URL" ;;
    *)
        echo "usage: $0 start|stop|status|env" >&2
        exit 2
        ;;
esac
