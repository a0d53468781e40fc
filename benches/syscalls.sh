#!/usr/bin/env bash
# System calls, context switches and CPU per request, for the gateway or for nginx: what a
# request costs the kernel, counted rather than timed.
#
#   benches/syscalls.sh [--target switchyard|nginx] [--bin PATH] [--tools DIR] [--rate N]
#                       [--strace]
#
# Runs the target with one worker on core 0 (the load harness's `bench` group, records
# shipped to the private ClickHouse of scripts/clickhouse.sh; nginx as the harness's
# `start_nginx`, access log on) and the fast upstream and load generator on core 1 (when
# the machine has it), sends `--rate` requests per second (default 2,000) over 64
# connections, and counts 10 s of it with `perf stat -e raw_syscalls:sys_enter,
# context-switches,task-clock -p <pid>`; prints each per request, the CPU's split into user
# and system time (/proc/PID/stat, in clock ticks) and the target's peak RSS (VmHWM).
# `--strace` then prints 10 s of `strace -c -f` (which slows the target: use its split,
# not its times). Installs perf, strace and nginx when missing; builds
# target/release/{switchyard,loadgen,fast-upstream} unless --bin (the gateway) or --tools
# (loadgen and fast-upstream) is given.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"
# shellcheck source=benches/bench-config.sh
source "$ROOT/benches/bench-config.sh"

TARGET=switchyard
SY_BIN=
TOOLS=
RATE=2000
STRACE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --target) TARGET=$2; shift ;;
        --bin) SY_BIN=$2; shift ;;
        --tools) TOOLS=$2; shift ;;
        --rate) RATE=$2; shift ;;
        --strace) STRACE=1 ;;
        -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "syscalls.sh: unknown argument $1 (see --help)" >&2; exit 64 ;;
    esac
    shift
done
case "$TARGET" in switchyard | nginx) ;; *) echo "syscalls.sh: --target is switchyard or nginx" >&2; exit 64 ;; esac

needs=(perf:linux-perf strace:strace taskset:util-linux)
if [ "$TARGET" = nginx ]; then needs+=(nginx:nginx); fi
bench_need "${needs[@]}"
bench_build

# The target on core 0, its load on core 1 (when the machine has two). Arrays, not a
# function: the target must be the process whose pid `$!` gives, for `perf stat -p`.
CORE0=() CORE1=()
if [ "$(nproc)" -gt 1 ]; then CORE0=(taskset -c 0) CORE1=(taskset -c 1); fi

WORK=$(mktemp -d /tmp/switchyard-syscalls.XXXXXX)
UP_A=19670 UP_B=19671 PORT=19680 ADMIN=19681
for port in $UP_A $UP_B $PORT $ADMIN; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "syscalls.sh: port $port is in use (an earlier run still going?)" >&2
        exit 1
    fi
done
PIDS=()
trap bench_cleanup EXIT

"${CORE1[@]}" "$BIN/fast-upstream" --listen 127.0.0.1:$UP_A --listen 127.0.0.1:$UP_B >"$WORK/upstream.log" 2>&1 &
PIDS+=("$!")

if [ "$TARGET" = switchyard ]; then
    bash scripts/clickhouse.sh start >/dev/null
    eval "$(bash scripts/clickhouse.sh env)"
    bench_yaml $PORT $ADMIN $UP_A $UP_B "$WORK/spool" "$SWITCHYARD_TEST_CLICKHOUSE_URL" syscalls_bench \
        >"$WORK/switchyard.yaml"
    SWITCHYARD_WORKER_THREADS=1 RUST_LOG=warn "${CORE0[@]}" "$SY_BIN" serve --config "$WORK/switchyard.yaml" \
        >"$WORK/target.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 300); do
        curl -sf -m 1 "http://127.0.0.1:$ADMIN/readyz" >/dev/null 2>&1 && break
        sleep 0.2
    done
    curl -sf -m 1 "http://127.0.0.1:$ADMIN/readyz" >/dev/null || { tail "$WORK/target.log" >&2; exit 1; }
else
    n=$WORK/nginx
    bench_nginx_conf "$n" $PORT $UP_A $UP_B
    "${CORE0[@]}" nginx -p "$n" -e "$n/logs/error.log" -c "$n/nginx.conf" >"$WORK/target.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 50); do
        curl -s -o /dev/null -m 1 "http://127.0.0.1:$PORT/" && break
        sleep 0.2
    done
fi

seconds=$(( STRACE ? 32 : 20 ))
"${CORE1[@]}" "$BIN/loadgen" --url "http://127.0.0.1:$PORT/v1/chat/completions" --rate "$RATE" --duration "$seconds" \
    --warmup 2 --connections 64 --max-error-rate 0 >"$WORK/loadgen.json" 2>"$WORK/loadgen.log" &
lg=$!
PIDS+=("$lg")
sleep 6
# User and system CPU of all the target's threads, in clock ticks (/proc/PID/stat fields 14
# and 15; the command name in field 2 has no spaces for either target).
ticks() { awk '{print $14, $15}' "/proc/$pid/stat"; }
read -r user0 sys0 < <(ticks)
perf stat -x, -e raw_syscalls:sys_enter,context-switches,task-clock -p "$pid" -- sleep 10 2>"$WORK/perf.csv" || { head -3 "$WORK/perf.csv" >&2; echo "syscalls.sh: perf stat failed" >&2; exit 1; }
read -r user1 sys1 < <(ticks)
peak_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
if [ "$STRACE" = 1 ]; then
    sleep 1
    timeout 10 strace -c -f -p "$pid" -o "$WORK/strace.txt" >/dev/null 2>&1 || true
fi
wait "$lg" || { cat "$WORK/loadgen.log" >&2; echo "syscalls.sh: requests failed" >&2; exit 1; }
count() { awk -F, -v e="$1" '$3 == e {print $1}' "$WORK/perf.csv"; }
requests=$((RATE * 10))
awk -v t="$TARGET" -v r="$RATE" -v n="$requests" -v s="$(count raw_syscalls:sys_enter)" \
    -v c="$(count context-switches)" -v ms="$(count task-clock)" -v hz="$(getconf CLK_TCK)" \
    -v user=$((user1 - user0)) -v sys=$((sys1 - sys0)) -v peak="$peak_kib" 'BEGIN {
    printf "%s at %d req/s, 10 s counted: per request %.2f system calls, %.2f context switches, %.3f ms CPU", \
        t, r, s / n, c / n, ms / n
    printf " (user %.3f ms, system %.3f ms); peak RSS %.1f MiB\n", user * 1000 / hz / n, sys * 1000 / hz / n,
        peak / 1024
}'
if [ "$STRACE" = 1 ]; then sed -n '1,20p' "$WORK/strace.txt"; fi
