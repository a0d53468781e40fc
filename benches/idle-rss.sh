#!/usr/bin/env bash
# Peak RSS of the gateway holding 1,000 keep-alive connections that are mostly idle (issue
# 19's goal: ≤ 32 MiB). Memory per connection does not depend on how busy the machine is,
# so this runs anywhere, unlike the load harness's latencies.
#
#   benches/idle-rss.sh [--bin PATH] [--tools DIR] [--connections N] [--name NAME]
#
# Runs the gateway as the load harness does (1 tokio worker, the `bench` group on the fast
# upstream, records shipped to the private ClickHouse of scripts/clickhouse.sh), opens N
# (default 1,000) keep-alive connections up front with the load generator and sends 200
# requests per second for 20 s over them in turn (each used every 5 s, idle in
# between). Prints the gateway's RSS before any connection, the peak during the run (VmHWM,
# reset when the connections were open), and the RSS at the end of the run with the
# connections still open. Builds target/release/{switchyard,loadgen,fast-upstream} unless
# --bin (the gateway) or --tools (a directory holding loadgen and fast-upstream) is given.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"
# shellcheck source=benches/bench-config.sh
source "$ROOT/benches/bench-config.sh"

SY_BIN=
TOOLS=
CONNS=1000
NAME=run
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) SY_BIN=$2; shift ;;
        --tools) TOOLS=$2; shift ;;
        --connections) CONNS=$2; shift ;;
        --name) NAME=$2; shift ;;
        -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "idle-rss.sh: unknown argument $1 (see --help)" >&2; exit 64 ;;
    esac
    shift
done

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
if [ -z "$TOOLS" ]; then
    cargo build --release -q -p switchyard-benches --bin loadgen --bin fast-upstream
    TOOLS=$TARGET_DIR/release
fi
if [ -z "$SY_BIN" ]; then
    cargo build --release -q -p switchyard
    SY_BIN=$TARGET_DIR/release/switchyard
fi
BIN=$TOOLS

bash scripts/clickhouse.sh start >/dev/null
eval "$(bash scripts/clickhouse.sh env)"

WORK=$(mktemp -d /tmp/switchyard-idle-rss.XXXXXX)
UP_A=19620
UP_B=19621
SY_PORT=19630
SY_ADMIN=19631
PIDS=()
trap bench_cleanup EXIT

"$BIN/fast-upstream" --listen 127.0.0.1:$UP_A --listen 127.0.0.1:$UP_B >"$WORK/upstream.log" 2>&1 &
PIDS+=("$!")

bench_yaml $SY_PORT $SY_ADMIN $UP_A $UP_B "$WORK/spool" "$SWITCHYARD_TEST_CLICKHOUSE_URL" "idle_rss_${NAME//[^a-zA-Z0-9]/_}" \
    >"$WORK/switchyard.yaml"
SWITCHYARD_WORKER_THREADS=1 RUST_LOG=warn "$SY_BIN" serve --config "$WORK/switchyard.yaml" >"$WORK/switchyard.log" 2>&1 &
pid=$!
PIDS+=("$pid")
for _ in $(seq 300); do
    curl -sf -m 1 "http://127.0.0.1:$SY_ADMIN/readyz" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -sf -m 1 "http://127.0.0.1:$SY_ADMIN/readyz" >/dev/null || { tail "$WORK/switchyard.log" >&2; exit 1; }
rss() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
url=http://127.0.0.1:$SY_PORT/v1/chat/completions
# Warm the code paths (and the upstream pool) on a few connections first.
"$BIN/loadgen" --url "$url" --rate 50 --duration 2 --warmup 0 --connections 4 >/dev/null 2>&1
sleep 1
before=$(rss VmRSS)
"$BIN/loadgen" --url "$url" --rate 200 --duration 20 --warmup 0 --connections "$CONNS" --pin-connections \
    --timeout 30 --max-error-rate 0 --watch-pid "$pid" >"$WORK/loadgen.json" 2>"$WORK/loadgen.log" &
lg=$!
PIDS+=("$lg")
sleep 19
during=$(rss VmRSS)
wait "$lg" || { cat "$WORK/loadgen.log" >&2; echo "idle-rss.sh: requests failed" >&2; exit 1; }
peak=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["cpu"]["peak_rss_kib"])' "$WORK/loadgen.json" 2>/dev/null \
    || grep -o '"peak_rss_kib": *[0-9]*' "$WORK/loadgen.json" | grep -o '[0-9]*$')
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
echo "$NAME: RSS before connections $(mib "$before") MiB; with $CONNS connections open (19 s in) $(mib "$during") MiB; peak $(mib "$peak") MiB"
