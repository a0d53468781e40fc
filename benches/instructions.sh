#!/usr/bin/env bash
# Instructions per request: the gateway's cost counted by valgrind's callgrind, which a busy
# machine does not change (the load harness's CPU seconds and latencies it does).
#
#   benches/instructions.sh [--bin PATH] [--tools DIR] [--extra FILE] [--requests N] [--name NAME]
#                           [--keep DIR] [--target switchyard|nginx]
#
# Runs the gateway (1 tokio worker, the load harness's `bench` group on the fast upstream,
# records shipped to the private ClickHouse of scripts/clickhouse.sh) under callgrind with
# instrumentation off, warms it up, then counts every thread's instructions while the load
# generator sends N requests at N/20 per second, and again for 2N at 2N/20 per second (both
# 20 s). The difference over N is the marginal cost of one request; what is left of the first
# count is the cost of 20 s of running (timers, heartbeats, the shipper's ticks).
# `--extra FILE` appends YAML to the gateway's config (rate_limits:, tracing:, ...), so two
# runs compare a feature on and off; `--bin` compares builds (e.g. one from `git worktree`).
# Installs valgrind when missing; builds target/release/{switchyard,loadgen,fast-upstream}
# unless --bin (the gateway) or --tools (a directory holding loadgen and fast-upstream, so a
# busy machine need not build them again) is given. `--keep DIR` keeps the callgrind
# files of the 2N run there, for `callgrind_annotate --inclusive=yes DIR/callgrind.*`.
# `--target nginx` counts nginx instead (`bench_nginx_conf`: one process, access log on), so
# the gateway's count has something to be compared with.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"
# shellcheck source=benches/bench-config.sh
source "$ROOT/benches/bench-config.sh"

SY_BIN=
TOOLS=
EXTRA=
N=2000
NAME=run
KEEP=
TARGET=switchyard
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) SY_BIN=$2; shift ;;
        --tools) TOOLS=$2; shift ;;
        --extra) EXTRA=$2; shift ;;
        --requests) N=$2; shift ;;
        --name) NAME=$2; shift ;;
        --keep) KEEP=$2; shift ;;
        --target) TARGET=$2; shift ;;
        -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "instructions.sh: unknown argument $1 (see --help)" >&2; exit 64 ;;
    esac
    shift
done

case "$TARGET" in switchyard | nginx) ;; *) echo "instructions.sh: --target is switchyard or nginx" >&2; exit 64 ;; esac

needs=(valgrind:valgrind)
if [ "$TARGET" = nginx ]; then needs+=(nginx:nginx); fi
bench_need "${needs[@]}"
bench_build

bash scripts/clickhouse.sh start >/dev/null
eval "$(bash scripts/clickhouse.sh env)"

WORK=$(mktemp -d /tmp/switchyard-instructions.XXXXXX)
UP_A=19600
UP_B=19601
SY_PORT=19610
SY_ADMIN=19611
PIDS=()
trap bench_cleanup EXIT

"$BIN/fast-upstream" --listen 127.0.0.1:$UP_A --listen 127.0.0.1:$UP_B >"$WORK/upstream.log" 2>&1 &
PIDS+=("$!")

# One measured window of `count` requests in 20 s; prints the instructions counted.
measure() {
    local count=$1 db="instructions_${NAME//[^a-zA-Z0-9]/_}" pid
    rm -rf "$WORK/spool" "$WORK"/callgrind.*
    if [ "$TARGET" = nginx ]; then
        rm -rf "$WORK/nginx"
        bench_nginx_conf "$WORK/nginx" $SY_PORT $UP_A $UP_B
        valgrind --tool=callgrind --collect-atstart=yes --instr-atstart=no \
            --callgrind-out-file="$WORK/callgrind.%p" \
            nginx -p "$WORK/nginx" -e "$WORK/nginx/logs/error.log" -c "$WORK/nginx/nginx.conf" \
            >"$WORK/target.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        for _ in $(seq 600); do
            curl -s -o /dev/null -m 1 "http://127.0.0.1:$SY_PORT/" && break
            sleep 0.2
        done
        curl -s -o /dev/null -m 1 "http://127.0.0.1:$SY_PORT/" || { tail "$WORK/target.log" >&2; exit 1; }
    else
        {
            bench_yaml $SY_PORT $SY_ADMIN $UP_A $UP_B "$WORK/spool" "$SWITCHYARD_TEST_CLICKHOUSE_URL" "$db"
            if [ -n "$EXTRA" ]; then cat "$EXTRA"; fi
        } >"$WORK/switchyard.yaml"
        SWITCHYARD_WORKER_THREADS=1 RUST_LOG=warn valgrind --tool=callgrind --collect-atstart=yes \
            --instr-atstart=no --callgrind-out-file="$WORK/callgrind.%p" \
            "$SY_BIN" serve --config "$WORK/switchyard.yaml" >"$WORK/target.log" 2>&1 &
        pid=$!
        PIDS+=("$pid")
        for _ in $(seq 600); do
            curl -sf -m 1 "http://127.0.0.1:$SY_ADMIN/readyz" >/dev/null 2>&1 && break
            sleep 0.2
        done
        curl -sf -m 1 "http://127.0.0.1:$SY_ADMIN/readyz" >/dev/null || { tail "$WORK/target.log" >&2; exit 1; }
    fi
    local url=http://127.0.0.1:$SY_PORT/v1/chat/completions
    "$BIN/loadgen" --url "$url" --rate 50 --duration 4 --warmup 0 --connections 16 >/dev/null 2>&1
    callgrind_control -i on "$pid" >/dev/null
    "$BIN/loadgen" --url "$url" --rate $((count / 20)) --duration 20 --warmup 0 --connections 16 \
        --timeout 30 --max-error-rate 0 >"$WORK/loadgen.json" 2>>"$WORK/loadgen.log" \
        || { echo "instructions.sh: requests failed under callgrind" >&2; exit 1; }
    callgrind_control -i off "$pid" >/dev/null
    callgrind_control -d "$pid" >/dev/null
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    awk '/^totals:/ {s += $2} END {printf "%d\n", s}' "$WORK"/callgrind.*
    if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && rm -f "$KEEP"/callgrind.* && cp "$WORK"/callgrind.* "$KEEP"/; fi
}

one=$(measure "$N")
two=$(measure $((2 * N)))
per_request=$(((two - one) / N))
fixed=$((one - per_request * N))
echo "$NAME: $N requests: $one instructions; $((2 * N)) requests: $two"
echo "$NAME: per request $per_request instructions (marginal); 20 s of running without requests $fixed"
