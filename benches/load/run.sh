#!/usr/bin/env bash
# Load harness: Switchyard against its peers on one machine, open-loop, recording on.
#
#   benches/load/run.sh [--full]            # the real run (default; ~15 min on 2 cores)
#   benches/load/run.sh --smoke             # a few seconds per target, for CI
#   benches/load/run.sh --soak 30 [--soak-rate R]
#                                           # a soak: saturation search, then 5-minute windows
#                                           # at half the saturation (or R req/s) for 30 min
#   options: --out DIR   --targets direct,switchyard,switchyard-rl-local,switchyard-rl-redis,switchyard-trace-100,...,nginx,litellm
#
# Targets, each answering POST /v1/chat/completions on loopback:
#   direct      the load generator straight to the fast upstream (the floor)
#   switchyard  group `bench`: champion 90 % / challenger 10 % on two upstream ports,
#               records spooled and shipped to the private ClickHouse (scripts/clickhouse.sh)
#   switchyard-rl-local, switchyard-rl-redis
#               the same gateway with 3 rate-limit rules on (group and provider requests,
#               member tokens; never reached), backend local or redis (scripts/redis.sh's
#               private Redis, pinned to the load core); only the 2,000 req/s scenario
#               (smoke: 100 req/s), to show what the limits add over `switchyard`
#   nginx       Debian's nginx, split_clients 90/10 across the two ports, access log on
#   litellm     LiteLLM proxy (PyPI, pinned below), two deployments with weights 9:1
#   switchyard-trace-100, switchyard-trace-1
#               switchyard as above with tracing on (SPEC §13), 100 % / 1 % of requests
#               sampled, spans exported over OTLP/HTTP to otlp-sink (accepts and discards)
#   switchyard-2w, nginx-2w
#               switchyard with its default worker count (one per core) and nginx with 2
#               workers, neither pinned, the load generator unpinned too (how a user first
#               tries it on a 2-core box; the upstream stays on core 1); saturation and
#               rate-2000 only
#   switchyard-collector-down, switchyard-collector-slow
#               100 % sampled, the collector a closed port / a sink that answers after 2 s
#               (spans dropped and counted; the data plane must not notice)
# Scenarios: fixed open-loop rates (500, 2,000, 5,000 req/s), streaming (20 chunks),
# 64 KiB request bodies, 1,000 open connections, and a saturation search. The tracing
# targets run only rate-500, rate-2000 and stream-20 (smoke: rate-100, stream-20), to be
# compared with switchyard's rows.
#
# Cores: the target on core 0, the fast upstream and the load generator on core 1
# (taskset), so a target never competes with its own load. ClickHouse, which would be
# its own host in production, is moved to core 1 too (restored afterwards if it was
# already running). Installs what it needs
# (apt-get: nginx, fonts-dejavu-core; pip: litellm in its own venv), idempotently and
# without stdin; builds in $CARGO_TARGET_DIR (default: the workspace's target/).
# SWITCHYARD_BIN=path benchmarks a prebuilt gateway binary instead of building one.
# Writes runs/*.json, results.json, results.md and chart.png into the output directory
# (full: benches/results/<date>/, smoke: <target dir>/bench-smoke/<time>/). Exits non-zero
# if a target does not answer, a smoke run has errors, or the report is not produced.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"
# shellcheck source=benches/bench-config.sh
source "$ROOT/benches/bench-config.sh"
ARGS="$*"

MODE=full
OUT=
TARGETS=direct,switchyard,switchyard-rl-local,switchyard-rl-redis,switchyard-trace-100,switchyard-trace-1,switchyard-collector-down,switchyard-collector-slow,nginx,litellm
SOAK_MIN=0
SOAK_RATE=
TARGETS_SET=0
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) MODE=smoke ;;
        --soak) MODE=soak SOAK_MIN=$2; shift ;;
        --soak-rate) SOAK_RATE=$2; shift ;;
        --full) MODE=full ;;
        --out) OUT=$2; shift ;;
        --targets) TARGETS=$2 TARGETS_SET=1; shift ;;
        -h | --help) sed -n '2,47p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 64 ;;
    esac
    shift
done

if [ "$MODE" = soak ]; then
    [[ "$SOAK_MIN" =~ ^[0-9]+$ ]] && [ "$SOAK_MIN" -ge 5 ] && [ $((SOAK_MIN % 5)) = 0 ] \
        || { echo "run.sh: --soak takes minutes, a multiple of 5" >&2; exit 64; }
    [ "$TARGETS_SET" = 1 ] || TARGETS=switchyard
fi

LITELLM_VERSION=1.106.12
LITELLM_VENV=${SWITCHYARD_BENCH_LITELLM_VENV:-/opt/switchyard-bench/litellm-$LITELLM_VERSION}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release
FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
TARGET_CPU=${SWITCHYARD_BENCH_TARGET_CPU:-0}
CLIENT_CPU=${SWITCHYARD_BENCH_CLIENT_CPU:-1}
UP_A=19500 UP_B=19501 SY_PORT=19580 SY_ADMIN=19590 NGINX_PORT=19600 LITELLM_PORT=19700
SINK_PORT=19650 SLOW_SINK_PORT=19651 DOWN_PORT=19652
CH_URL=http://127.0.0.1:${SWITCHYARD_CH_HTTP_PORT:-18123}
CH_DB=switchyard_bench
REDIS_PORT=${SWITCHYARD_REDIS_PORT:-16379}
CHUNK_DELAY_US=1000
T0=$(date +%s)

log() { printf '%s run.sh: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
has() { [[ ",$TARGETS," == *",$1,"* ]]; }
has_switchyard() { [[ ",$TARGETS," == *",switchyard"* ]]; }
has_tracing() { [[ ",$TARGETS," == *",switchyard-trace"* || ",$TARGETS," == *",switchyard-collector"* ]]; }

# --- install (idempotent, non-interactive) --------------------------------------------

install_deps() {
    local apt=()
    if has nginx && ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then apt+=(nginx); fi
    [ -f "$FONT" ] || apt+=(fonts-dejavu-core)
    command -v taskset >/dev/null || apt+=(util-linux)
    command -v curl >/dev/null || apt+=(curl ca-certificates)
    command -v ss >/dev/null || apt+=(iproute2)
    if has litellm && [ ! -f "$LITELLM_VENV/.installed" ]; then
        command -v python3 >/dev/null || apt+=(python3)
        python3 -c 'import venv, ensurepip' 2>/dev/null || apt+=(python3-venv)
    fi
    if [ ${#apt[@]} -gt 0 ]; then
        log "apt-get install ${apt[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q </dev/null >/dev/null
        apt-get install -y -q --no-install-recommends "${apt[@]}" </dev/null >/dev/null
        if [[ " ${apt[*]} " == *" nginx "* ]]; then
            # The package may start its own service on :80; this harness runs its own nginx.
            { systemctl disable --now nginx || service nginx stop; } >/dev/null 2>&1 || true
        fi
    fi
    if has litellm && [ ! -f "$LITELLM_VENV/.installed" ]; then
        log "pip install litellm[proxy]==$LITELLM_VERSION into $LITELLM_VENV (a few minutes, once)"
        rm -rf "$LITELLM_VENV"
        python3 -m venv "$LITELLM_VENV"
        "$LITELLM_VENV/bin/pip" install -q --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION" </dev/null
        touch "$LITELLM_VENV/.installed"
    fi
}

# --- processes ------------------------------------------------------------------------

WORK=$(mktemp -d /tmp/switchyard-bench.XXXXXX)
STARTED=()      # pids this script started, stopped on exit
CH_STARTED=0
REDIS_STARTED=0
FAILED=1

pin() { # pin CPU COMMAND...: taskset when the machine has the core (not for *-2w targets)
    local cpu=$1; shift
    if [ "$(nproc)" -gt "$cpu" ] && [[ "${TARGET:-}" != *-2w ]]; then taskset -c "$cpu" "$@"; else "$@"; fi
}

stop_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
    if [ "$REDIS_STARTED" = 1 ]; then
        bash scripts/redis.sh stop >/dev/null 2>&1 || true
    elif [ -n "${REDIS_AFFINITY:-}" ]; then
        taskset -a -p -c "$REDIS_AFFINITY" "$REDIS_PID" >/dev/null 2>&1 || true
    fi
    if [ "$CH_STARTED" = 1 ]; then
        bash scripts/clickhouse.sh stop >/dev/null 2>&1 || true
    elif [ -n "${CH_AFFINITY:-}" ]; then
        taskset -a -p -c "$CH_AFFINITY" "$CH_PID" >/dev/null 2>&1 || true
    fi
    if [ "$FAILED" = 1 ] && [ -n "${OUT:-}" ]; then
        mkdir -p "$OUT/logs" && cp "$WORK"/*.log "$OUT/logs/" 2>/dev/null || true
        log "logs kept in $OUT/logs"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# A stopped target's children (uvicorn's worker) may hold its port a little longer.
await_port_free() {
    for _ in $(seq 60); do port_free "$1" && return 0; sleep 0.5; done
    return 1
}

# Wait until URL answers a chat request with 2xx (or die with the log's tail).
wait_ready() {
    local name=$1 url=$2 pid=$3 logfile=$4 secs=$5
    for _ in $(seq $((secs * 5))); do
        kill -0 "$pid" 2>/dev/null || { tail -30 "$logfile" >&2; die "$name exited during start-up"; }
        if curl -sf -m 2 -H 'content-type: application/json' \
            -d '{"model":"bench","messages":[{"role":"user","content":"ready?"}]}' "$url" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    tail -30 "$logfile" >&2
    die "$name did not answer $url within ${secs}s"
}

# After a scenario: wait until the target answers one request within a second again.
settle() {
    for _ in $(seq 60); do
        if curl -sf -m 1 -H 'content-type: application/json' \
            -d '{"model":"bench","messages":[{"role":"user","content":"settled?"}]}' "$URL" >/dev/null 2>&1; then
            sleep 1
            return 0
        fi
        sleep 1
    done
    log "warning: $TARGET still slow 60 s after the last scenario"
}

tree_pids() { # pid and its descendants
    ps -e -o pid=,ppid= | awk -v root="$1" '{p[$1]=$2} END {
        want[root]=1; changed=1
        while (changed) { changed=0; for (c in p) if (want[p[c]] && !want[c]) { want[c]=1; changed=1 } }
        for (c in want) print c }'
}

# Any TCP connection of the target's processes to a non-loopback address (there must be none).
egress_check() {
    local pid bad=""
    for pid in $(tree_pids "$1"); do
        bad+=$(ss -tnpH 2>/dev/null | grep "pid=$pid," | awk '{print $5}' | grep -v -E '^(127\.|\[::1\]|\[::ffff:127\.)' || true)
    done
    if [ -n "$bad" ]; then
        log "warning: $TARGET has connections off loopback: $bad"
        NOTES+=("--note" "$TARGET opened connections off loopback: $(echo "$bad" | tr '\n' ' ')")
    fi
}

start_upstream() {
    port_free $UP_A && port_free $UP_B || die "ports $UP_A/$UP_B are in use"
    pin "$CLIENT_CPU" "$BIN/fast-upstream" --listen 127.0.0.1:$UP_A --listen 127.0.0.1:$UP_B \
        --chunks 20 --chunk-delay-us $CHUNK_DELAY_US >"$WORK/upstream.log" 2>&1 &
    UP_PID=$!
    STARTED+=("$UP_PID")
    wait_ready upstream "http://127.0.0.1:$UP_A/v1/chat/completions" "$UP_PID" "$WORK/upstream.log" 10
}

# The `rate_limits:` section of the switchyard-rl-* targets: three rules every request
# is checked against (group and provider requests, member tokens), set far above the
# offered load so nothing is refused; the key prefix is fresh per run.
rl_yaml() {
    local backend=$1
    echo "rate_limits:"
    echo "  backend: $backend"
    if [ "$backend" = redis ]; then
        echo "  redis: { url: \"redis://127.0.0.1:$REDIS_PORT\", key_prefix: \"switchyard-bench:$(date +%s%N)\" }"
    fi
    cat <<YAML
  rules:
    - { name: bench-group-rps, scope: group, match: bench, requests: 1000000, per: second }
    - { name: provider-rps, scope: provider, each: true, requests: 1000000, per: second }
    - { name: member-tpm, scope: member, each: true, tokens: 100000000000, per: minute }
YAML
}

# OTLP sinks for the tracing targets (on the load core: a collector is its own host).
start_sinks() {
    port_free $SINK_PORT && port_free $SLOW_SINK_PORT || die "ports $SINK_PORT/$SLOW_SINK_PORT are in use"
    port_free $DOWN_PORT || die "port $DOWN_PORT must stay closed (the collector-down target)"
    pin "$CLIENT_CPU" "$BIN/otlp-sink" --listen 127.0.0.1:$SINK_PORT >"$WORK/sink.log" 2>&1 &
    STARTED+=("$!")
    pin "$CLIENT_CPU" "$BIN/otlp-sink" --listen 127.0.0.1:$SLOW_SINK_PORT --delay-ms 2000 >"$WORK/sink-slow.log" 2>&1 &
    STARTED+=("$!")
    for _ in $(seq 50); do
        curl -sf -m 1 "http://127.0.0.1:$SINK_PORT/stats" >/dev/null 2>&1 \
            && curl -sf -m 1 "http://127.0.0.1:$SLOW_SINK_PORT/stats" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "otlp-sink did not start"
}

# The `tracing:` block of a switchyard target.
tracing_yaml() {
    case "$1" in
        switchyard-trace-100) echo "tracing: { otlp_endpoint: \"http://127.0.0.1:$SINK_PORT\", sample_ratio: 1 }" ;;
        switchyard-trace-1) echo "tracing: { otlp_endpoint: \"http://127.0.0.1:$SINK_PORT\", sample_ratio: 0.01 }" ;;
        switchyard-collector-down) echo "tracing: { otlp_endpoint: \"http://127.0.0.1:$DOWN_PORT\", sample_ratio: 1 }" ;;
        switchyard-collector-slow) echo "tracing: { otlp_endpoint: \"http://127.0.0.1:$SLOW_SINK_PORT\", sample_ratio: 1 }" ;;
        *) echo "" ;;
    esac
}

# After a tracing target: what the gateway exported and dropped, as a report note.
trace_note() {
    local m exported full failed sink
    m=$(curl -sf -m 2 "http://127.0.0.1:$SY_ADMIN/metrics" || true)
    exported=$(awk '/^switchyard_trace_spans_exported_total / {print $2}' <<<"$m")
    full=$(awk '/^switchyard_trace_spans_dropped_total\{reason="queue_full"\}/ {print $2}' <<<"$m")
    failed=$(awk '/^switchyard_trace_spans_dropped_total\{reason="export_failed"\}/ {print $2}' <<<"$m")
    case "$TARGET" in
        switchyard-collector-down) sink="collector down" ;;
        switchyard-collector-slow) sink="slow sink (cumulative) $(curl -sf -m 2 "http://127.0.0.1:$SLOW_SINK_PORT/stats" || echo '?')" ;;
        *) sink="sink (cumulative) $(curl -sf -m 2 "http://127.0.0.1:$SINK_PORT/stats" || echo '?')" ;;
    esac
    log "$TARGET: spans exported ${exported:-?}, dropped queue_full ${full:-?}, export_failed ${failed:-?}; $sink"
    NOTES+=("--note" "$TARGET: spans exported ${exported:-?}, dropped (queue full) ${full:-?}, dropped (export failed) ${failed:-?}")
}

start_switchyard() { # [extra YAML]
    await_port_free $SY_PORT || die "port $SY_PORT is in use"
    if [ "${SY_FRESH_DB:-1}" = 1 ]; then
        curl -sf -m 5 --data-binary "DROP DATABASE IF EXISTS $CH_DB" "$CH_URL/" >/dev/null \
            || die "ClickHouse at $CH_URL does not answer"
        SY_FRESH_DB=0
    fi
    {
        bench_yaml $SY_PORT $SY_ADMIN $UP_A $UP_B "$WORK/spool" "$CH_URL" $CH_DB
        echo "${1:-}"
        tracing_yaml "$TARGET"
    } >"$WORK/switchyard.yaml"
    # One data-plane worker on the target core; *-2w: the default (one per core), unpinned.
    local workers=1
    if [[ "$TARGET" == *-2w ]]; then workers=; fi
    SWITCHYARD_WORKER_THREADS=$workers RUST_LOG=warn pin "$TARGET_CPU" "$SY" serve --config "$WORK/switchyard.yaml" \
        >"$WORK/switchyard.log" 2>&1 &
    PID=$!
    URL=http://127.0.0.1:$SY_PORT/v1/chat/completions
    LOGFILE=$WORK/switchyard.log
}

start_nginx() {
    await_port_free $NGINX_PORT || die "port $NGINX_PORT is in use"
    local n=$WORK/nginx
    mkdir -p "$n/logs" "$n/tmp"
    cat >"$n/nginx.conf" <<CONF
# One worker on the target core (taskset), like the gateway's one data-plane worker; nginx-2w: 2.
worker_processes $([ "$TARGET" = nginx-2w ] && echo 2 || echo 1);
daemon off;
pid $n/nginx.pid;
error_log $n/logs/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 8192; }
http {
    access_log $n/logs/access.log;          # combined format, on (the default)
    client_body_temp_path $n/tmp/body;
    proxy_temp_path $n/tmp/proxy;
    fastcgi_temp_path $n/tmp/fastcgi;
    uwsgi_temp_path $n/tmp/uwsgi;
    scgi_temp_path $n/tmp/scgi;
    client_max_body_size 4m;
    client_body_buffer_size 128k;           # 64 KiB bodies stay in memory
    keepalive_requests 1000000;
    upstream fast_a { server 127.0.0.1:$UP_A; keepalive 256; }
    upstream fast_b { server 127.0.0.1:$UP_B; keepalive 256; }
    split_clients "\$request_id" \$pool { 90% fast_a; * fast_b; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://\$pool;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;            # stream SSE through as it comes
        }
    }
}
CONF
    pin "$TARGET_CPU" nginx -p "$n" -e "$n/logs/error.log" -c "$n/nginx.conf" >"$WORK/nginx.log" 2>&1 &
    PID=$!
    URL=http://127.0.0.1:$NGINX_PORT/v1/chat/completions
    LOGFILE=$WORK/nginx.log
}

start_litellm() {
    await_port_free $LITELLM_PORT || die "port $LITELLM_PORT is in use"
    cat >"$WORK/litellm.yaml" <<YAML
model_list:
  - model_name: bench
    litellm_params: { model: openai/bench-a, api_base: "http://127.0.0.1:$UP_A/v1", api_key: not-a-secret, weight: 9 }
  - model_name: bench
    litellm_params: { model: openai/bench-b, api_base: "http://127.0.0.1:$UP_B/v1", api_key: not-a-secret, weight: 1 }
router_settings:
  routing_strategy: simple-shuffle
litellm_settings:
  telemetry: false
YAML
    # Offline: the bundled model cost map, no telemetry, no hub look-ups; no database.
    # No client auth, like the other targets (LiteLLM refuses that unless told it is meant).
    pin "$TARGET_CPU" env -u PYTHONDONTWRITEBYTECODE LITELLM_LOCAL_MODEL_COST_MAP=True \
        LITELLM_TELEMETRY=False DO_NOT_TRACK=1 ANONYMIZED_TELEMETRY=False HF_HUB_OFFLINE=1 \
        TRANSFORMERS_OFFLINE=1 LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY=true \
        "$LITELLM_VENV/bin/litellm" --config "$WORK/litellm.yaml" \
        --host 127.0.0.1 --port $LITELLM_PORT --num_workers 1 >"$WORK/litellm.log" 2>&1 &
    PID=$!
    URL=http://127.0.0.1:$LITELLM_PORT/v1/chat/completions
    LOGFILE=$WORK/litellm.log
}

# --- scenarios ------------------------------------------------------------------------
# name | loadgen arguments | description

# The one scenario of the switchyard-rl-* targets (compared with `switchyard`'s run of it).
RL_SCENARIO=rate-2000
if [ "$MODE" = full ]; then
    FIXED="--duration 10 --warmup 2 --timeout 10"
    # Saturation first: a target that cannot keep up with the fixed rates (LiteLLM) keeps
    # working off their abandoned requests for minutes and would fail every later probe.
    SCENARIOS=(
        "saturation|--saturate --rate 100 --duration 3 --warmup 1 --timeout 5 --slo-p99-ms 50 --max-probes 14|saturation search from 100 req/s, 3 s probes, p99 ≤ 50 ms"
        "rate-500|--rate 500 $FIXED|non-streaming chat, 500 req/s"
        "rate-2000|--rate 2000 $FIXED|non-streaming chat, 2,000 req/s"
        "rate-5000|--rate 5000 $FIXED|non-streaming chat, 5,000 req/s"
        "stream-20|--rate 1000 --stream $FIXED|streaming chat, 20 SSE chunks 1 ms apart, 1,000 req/s"
        "body-64k|--rate 1000 --body-bytes 65536 $FIXED|non-streaming chat with a 64 KiB request body, 1,000 req/s"
        "conn-1000|--rate 2000 --connections 1000 --pin-connections $FIXED|1,000 keep-alive connections held open and used in turn, 2,000 req/s"
    )
elif [ "$MODE" = soak ]; then
    # The saturation search, then back-to-back 5-minute windows at @SOAK_RATE@ (half the
    # saturation found, unless --soak-rate): each window's p99, CPU and peak RSS (reset at
    # the window's start) are one row of the report.
    SCENARIOS=("saturation|--saturate --rate 100 --duration 3 --warmup 1 --timeout 5 --slo-p99-ms 50 --max-probes 14|saturation search from 100 req/s, 3 s probes, p99 ≤ 50 ms")
    for ((m = 5; m <= SOAK_MIN; m += 5)); do
        SCENARIOS+=("soak-$(printf %03d $m)min|--rate @SOAK_RATE@ --duration 300 --warmup $([ $m = 5 ] && echo 10 || echo 0) --timeout 10|soak, minutes $((m - 5))–$m at @SOAK_RATE@ req/s")
    done
else
    # Low rates: every target, LiteLLM included, must answer all of them on a busy CI box.
    RL_SCENARIO=rate-100
    FIXED="--duration 1 --warmup 0.5 --timeout 5 --max-error-rate 0.01"
    SCENARIOS=(
        "saturation|--saturate --rate 50 --duration 0.5 --warmup 0.2 --timeout 5 --slo-p99-ms 50 --max-probes 2 --pause 0.2 --settle-max 10|saturation search, 2 probes of 0.5 s (smoke)"
        "rate-100|--rate 100 $FIXED|non-streaming chat, 100 req/s (smoke)"
        "stream-20|--rate 50 --stream $FIXED|streaming chat, 20 SSE chunks 1 ms apart, 50 req/s (smoke)"
        "body-64k|--rate 50 --body-bytes 65536 $FIXED|non-streaming chat with a 64 KiB request body, 50 req/s (smoke)"
        "conn-1000|--rate 100 --connections 1000 --pin-connections $FIXED|1,000 keep-alive connections held open and used in turn, 100 req/s (smoke)"
    )
fi

run_target() {
    TARGET=$1
    local t0 started
    t0=$(date +%s)
    if [ "$TARGET" = direct ]; then
        PID=$UP_PID URL=http://127.0.0.1:$UP_A/v1/chat/completions LOGFILE=$WORK/upstream.log started=0
    else
        start_target
        started=1
        STARTED+=("$PID")
    fi
    wait_ready "$TARGET" "$URL" "$PID" "$LOGFILE" "$([ "$TARGET" = litellm ] && echo 180 || echo 20)"
    log "$TARGET ready (pid $PID) at $URL"
    warm_up
    local aux=(--aux-pid "upstream=$UP_PID")
    if [[ "$TARGET" == switchyard* ]] && [ -n "${CH_PID:-}" ]; then aux+=(--aux-pid "clickhouse=$CH_PID"); fi
    if [ "$TARGET" = switchyard-rl-redis ] && [ -n "${REDIS_PID:-}" ]; then aux+=(--aux-pid "redis=$REDIS_PID"); fi
    local entry name args label
    for entry in "${SCENARIOS[@]}"; do
        IFS='|' read -r name args label <<<"$entry"
        if [[ "$TARGET" == switchyard-rl-* ]] && [ "$name" != "$RL_SCENARIO" ]; then continue; fi
        if [[ "$TARGET" == *-2w ]] && [[ " saturation rate-2000 rate-100 " != *" $name "* ]]; then continue; fi
        args=${args//@SOAK_RATE@/$SOAK_RATE} label=${label//@SOAK_RATE@/$SOAK_RATE}
        if [ "$name" = soak-005min ]; then wait_shipped; SOAK_BASE=$(ok_records); fi
        if [[ "$TARGET" == switchyard-trace-* || "$TARGET" == switchyard-collector-* ]] \
            && [[ " rate-100 rate-500 rate-2000 stream-20 " != *" $name "* ]]; then
            continue
        fi
        # shellcheck disable=SC2086 # $args is a list of loadgen flags
        pin "$CLIENT_CPU" "$BIN/loadgen" --url "$URL" --target "$TARGET" --scenario "$name" --label "$label" \
            --watch-pid "$PID" "${aux[@]}" --out "$OUT/runs/$TARGET.$name.json" $args >/dev/null \
            2>>"$WORK/loadgen.log" || { tail -5 "$WORK/loadgen.log" >&2; die "$TARGET $name: loadgen failed (errors or no answer)"; }
        log "$TARGET $name: $(summarize "$OUT/runs/$TARGET.$name.json")"
        if [ "$MODE" = soak ] && [ "$name" = saturation ] && [ -z "$SOAK_RATE" ]; then
            local sat
            sat=$(sed -E 's/.*"achieved_rate":([0-9]+).*/\1/' "$OUT/runs/$TARGET.$name.json")
            SOAK_RATE=$((sat / 200 * 100))
            log "$TARGET: soaking at $SOAK_RATE req/s (half of $sat)"
        fi
        if [ "$name" = saturation ] && [ "$started" = 1 ]; then
            # The fixed-rate scenarios start from a fresh process, not from one that has
            # just been overloaded (memory it grew, requests it is still working off).
            if [ "$TARGET" = switchyard ]; then wait_shipped; fi
            stop_pid "$PID"
            start_target
            STARTED+=("$PID")
            wait_ready "$TARGET" "$URL" "$PID" "$LOGFILE" "$([ "$TARGET" = litellm ] && echo 180 || echo 20)"
            log "$TARGET restarted after the saturation search (pid $PID)"
            warm_up
        fi
        settle
    done
    egress_check "$PID"
    if [ "$TARGET" = switchyard ] || [[ "$TARGET" == switchyard-rl-* || "$TARGET" == switchyard-2w ]]; then check_records; fi
    if [ "$MODE" = soak ] && [[ "$TARGET" == switchyard* ]]; then check_soak_records; fi
    if [[ "$TARGET" == switchyard-trace-* || "$TARGET" == switchyard-collector-* ]]; then trace_note; fi
    if [ "$started" = 1 ]; then stop_pid "$PID"; fi
    log "$TARGET done in $(($(date +%s) - t0)) s"
}

# Switchyard: wait (up to 120 s) until every enqueued record was shipped to ClickHouse.
wait_shipped() {
    local m enq shipped
    for _ in $(seq 240); do
        m=$(curl -sf -m 2 "http://127.0.0.1:$SY_ADMIN/metrics" || true)
        enq=$(awk '/^switchyard_records_total\{outcome="enqueued"\}/ {print $2}' <<<"$m")
        shipped=$(awk '/^switchyard_records_total\{outcome="shipped"\}/ {print $2}' <<<"$m")
        if [ -n "$enq" ] && [ "$enq" = "$shipped" ]; then
            log "switchyard: all $enq records shipped"
            return 0
        fi
        sleep 0.5
    done
    log "warning: switchyard shipped ${shipped:-?} of ${enq:-?} records within 120 s; the rest stay in the spool"
}

start_target() { # sets PID, URL, LOGFILE
    case "$TARGET" in
        switchyard | switchyard-2w | switchyard-trace-100 | switchyard-trace-1 | switchyard-collector-down | switchyard-collector-slow)
            start_switchyard ;;
        switchyard-rl-local) start_switchyard "$(rl_yaml local)" ;;
        switchyard-rl-redis) start_switchyard "$(rl_yaml redis)" ;;
        nginx | nginx-2w) start_nginx ;;
        litellm) start_litellm ;;
        *) die "unknown target $TARGET (direct, switchyard, switchyard-2w, nginx-2w, switchyard-rl-local, switchyard-rl-redis, switchyard-trace-100, switchyard-trace-1, switchyard-collector-down, switchyard-collector-slow, nginx, litellm)" ;;
    esac
}

warm_up() { # unrecorded: lazy initialisation, caches, JIT-less Python imports
    if [ "$MODE" = full ]; then
        pin "$CLIENT_CPU" "$BIN/loadgen" --url "$URL" --rate 50 --duration 3 --warmup 0 --timeout 10 \
            >/dev/null 2>>"$WORK/loadgen.log" || true
        settle
    fi
}

summarize() { # one line from a run's JSON, without jq
    sed -E 's/.*"achieved_rate":([0-9.]+).*"requests":([0-9]+),"errors":([0-9]+).*"latency_us":\{"p50":([0-9]+),"p90":[0-9]+,"p99":([0-9]+).*/achieved \1 req\/s, \2 requests, \3 errors, p50 \4 us, p99 \5 us/' "$1" \
        | sed -E 's/achieved ([0-9]+)\.[0-9]+/achieved \1/'
}

# Recording was on: the records of the run must reach ClickHouse.
check_records() {
    local count=0
    for _ in $(seq 30); do
        count=$(curl -sf -m 5 --data-binary "SELECT count() FROM $CH_DB.inferences" "$CH_URL/" 2>/dev/null || echo 0)
        [ "${count:-0}" -gt 0 ] 2>/dev/null && break
        sleep 1
    done
    log "switchyard: $count records in ClickHouse $CH_DB.inferences"
    [ "${count:-0}" -gt 0 ] 2>/dev/null || die "switchyard recorded nothing into ClickHouse"
    NOTES+=("--note" "switchyard recorded $count inference records into ClickHouse during the run (recording on)")
}

ok_records() { curl -sf -m 10 --data-binary "SELECT count() FROM $CH_DB.inferences WHERE status = 200" "$CH_URL/" || echo 0; }

# A soak: every request of every window has its record in ClickHouse (counted from the
# first window's start; settle requests between windows are counted too).
check_soak_records() {
    wait_shipped
    local sent=0 f n count
    for f in "$OUT/runs/$TARGET".soak-*.json; do
        n=$(sed -E 's/.*"requests":([0-9]+).*/\1/' "$f")
        sent=$((sent + n))
    done
    count=$(($(ok_records) - ${SOAK_BASE:-0}))
    log "soak: $sent requests in the windows, $count successful records in ClickHouse"
    NOTES+=("--note" "soak: $sent requests in the measured windows, $count successful inference records in ClickHouse (warm-up and settle requests included)")
    [ "${count:-0}" -ge "$sent" ] || die "soak: $((sent - count)) records missing from ClickHouse"
}

# --- main -----------------------------------------------------------------------------

if [ -z "$OUT" ] && [ "$MODE" = full ]; then OUT=$ROOT/benches/results/$(date -u +%Y-%m-%d); fi
if [ -z "$OUT" ]; then OUT=$TARGET_DIR/bench-smoke/$(date -u +%Y%m%dT%H%M%S); fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -rf "$OUT/runs" "$OUT/logs"
mkdir -p "$OUT/runs"
log "mode $MODE, targets $TARGETS, output $OUT"

install_deps
log "building (release) into $TARGET_DIR"
if [ -n "${SWITCHYARD_BIN:-}" ]; then
    SY=$SWITCHYARD_BIN
    CARGO_TARGET_DIR=$TARGET_DIR cargo build -q --release -p switchyard-benches --bins
else
    SY=$BIN/switchyard
    CARGO_TARGET_DIR=$TARGET_DIR cargo build -q --release -p switchyard-benches -p switchyard --bins
fi

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 4096 ] || die "need ≥ 4096 open files (ulimit -n is $(ulimit -n))"
[ "$(nproc)" -ge 2 ] || log "warning: fewer than 2 cores: no pinning, numbers mix target and load"

NOTES=()
if has_switchyard; then
    if bash scripts/clickhouse.sh status >/dev/null 2>&1; then
        log "ClickHouse already running at $CH_URL"
    else
        bash scripts/clickhouse.sh start >&2
        CH_STARTED=1
    fi
    CH_PID=$(cat "${SWITCHYARD_CH_DIR:-/tmp/switchyard-ch}/clickhouse.pid" 2>/dev/null || true)
    # ClickHouse stands in for the database host it is in production: it runs on the
    # load core, never on the target's (its CPU is still reported per run).
    if [ -n "$CH_PID" ] && [ "$(nproc)" -gt "$CLIENT_CPU" ]; then
        CH_AFFINITY=$(taskset -p -c "$CH_PID" 2>/dev/null | awk '{print $NF}')
        taskset -a -p -c "$CLIENT_CPU" "$CH_PID" >/dev/null
    fi
fi

if has switchyard-rl-redis; then
    if bash scripts/redis.sh status >/dev/null 2>&1; then
        log "Redis already running on port $REDIS_PORT"
    else
        bash scripts/redis.sh start >&2
        REDIS_STARTED=1
    fi
    REDIS_PID=$(cat "${SWITCHYARD_REDIS_DIR:-/tmp/switchyard-redis}/redis.pid" 2>/dev/null || true)
    # Like ClickHouse, Redis stands in for its own host: on the load core.
    if [ -n "$REDIS_PID" ] && [ "$(nproc)" -gt "$CLIENT_CPU" ]; then
        REDIS_AFFINITY=$(taskset -p -c "$REDIS_PID" 2>/dev/null | awk '{print $NF}')
        taskset -a -p -c "$CLIENT_CPU" "$REDIS_PID" >/dev/null
    fi
fi

start_upstream
if has_tracing; then start_sinks; fi
IFS=',' read -r -a TARGET_LIST <<<"$TARGETS"
for t in "${TARGET_LIST[@]}"; do run_target "$t"; done

VERSIONS=(--version "switchyard=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- . ':!benches/results' 2>/dev/null || echo '+dirty')")
VERSIONS+=(--version "rustc=$(rustc -V 2>/dev/null | cut -d' ' -f2)")
has nginx && VERSIONS+=(--version "nginx=$(nginx -v 2>&1 | sed 's/.*nginx\///')")
has litellm && VERSIONS+=(--version "litellm=$LITELLM_VERSION (PyPI, Python $("$LITELLM_VENV/bin/python" -c 'import platform; print(platform.python_version())'))")
has switchyard-rl-redis && VERSIONS+=(--version "redis=$(redis-server --version | awk '{print $3}' | sed 's/v=//')")
has_switchyard && VERSIONS+=(--version "clickhouse=$(curl -sf -m 5 --data-binary 'SELECT version()' "$CH_URL/" || echo unknown)")
NOTES+=("--note" "pinning: target on core $TARGET_CPU; fast upstream + load generator on core $CLIENT_CPU (taskset); switchyard runs 1 data-plane worker, nginx 1 worker process, LiteLLM 1 uvicorn worker; ClickHouse (switchyard's record store) is pinned to core $CLIENT_CPU, standing in for its own host, and its CPU is not in switchyard's column")

"$BIN/report" --runs "$OUT/runs" --out "$OUT" --mode "$MODE" --font "$FONT" \
    --command "benches/load/run.sh${ARGS:+ $ARGS}" "${VERSIONS[@]}" "${NOTES[@]}" \
    || die "report failed"
for f in results.json results.md chart.png; do
    [ -s "$OUT/$f" ] || die "$OUT/$f was not produced"
done
FAILED=0
log "done in $(($(date +%s) - T0)) s: $OUT/results.md, $OUT/chart.png"
