#!/usr/bin/env bash
# Gateway overhead at fixed open-loop rates: the load generator straight to the fast
# upstream (the floor) and through Switchyard (90/10 champion/challenger, records on),
# non-streamed and streamed (20 chunks). Prints one JSON line per run.
#
#   benches/run-overhead.sh [RATE ...]        (default: 2000)
#   CLICKHOUSE=http://127.0.0.1:18123 benches/run-overhead.sh 2000
#                                             (records also shipped to that ClickHouse,
#                                              database switchyard_overhead; without it
#                                              records go to the durable spool only;
#                                              BATCH_MS sets records.batch.max_delay_ms)
#
# Cores: the gateway is pinned to core 0, the upstream and the load generator to core 1
# (taskset), so the gateway never competes with its own load. The full comparison with
# nginx and LiteLLM (and ClickHouse recording on) is benches/load/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
rates=("$@"); [ ${#rates[@]} -gt 0 ] || rates=(2000)
DURATION=${DURATION:-10}
cargo build --release -q -p switchyard -p switchyard-benches --bins
bin=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
UP=127.0.0.1:19500
GW=127.0.0.1:19580
cat > "$work/switchyard.yaml" <<YAML
listen: $GW
admin_listen: 127.0.0.1:19590
providers:
  fast: { kind: openai, base_url: "http://$UP/v1" }
groups:
  bench:
    members:
      - { name: champion, role: champion, provider: fast, model: bench-a, weight: 90 }
      - { name: challenger, role: challenger, provider: fast, model: bench-b, weight: 10 }
records:
  spool: { dir: "$work/spool" }
YAML
if [ -n "${CLICKHOUSE:-}" ]; then
  echo "  clickhouse: { url: \"$CLICKHOUSE\", database: switchyard_overhead }" >> "$work/switchyard.yaml"
  [ -z "${BATCH_MS:-}" ] || echo "  batch: { max_delay_ms: $BATCH_MS }" >> "$work/switchyard.yaml"
fi
label=${CLICKHOUSE:+ (ClickHouse)}
taskset -c 1 "$bin/fast-upstream" --listen $UP --chunks 20 2>/dev/null &
SWITCHYARD_WORKER_THREADS=1 RUST_LOG=warn taskset -c 0 "$bin/switchyard" serve --config "$work/switchyard.yaml" &
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/19580) 2>/dev/null && break; sleep 0.1; done
run() { taskset -c 1 "$bin/loadgen" --duration "$DURATION" "$@"; }
for rate in "${rates[@]}"; do
  run --url "http://$UP/v1/chat/completions" --rate "$rate" --label "direct non-stream"
  run --url "http://$GW/v1/chat/completions" --rate "$rate" --model bench --label "switchyard non-stream${label}"
  run --url "http://$UP/v1/chat/completions" --rate "$rate" --stream --label "direct stream-20"
  run --url "http://$GW/v1/chat/completions" --rate "$rate" --model bench --stream --label "switchyard stream-20${label}"
done
