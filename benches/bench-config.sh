# shellcheck shell=bash
# The gateway config every bench script runs: group `bench` (champion 90 % / challenger 10 %
# on the fast upstream's two ports), records spooled and shipped to ClickHouse. Sourced by
# load/run.sh, instructions.sh, idle-rss.sh and syscalls.sh, so they measure the same thing.
#
#   bench_yaml PORT ADMIN_PORT UPSTREAM_A UPSTREAM_B SPOOL_DIR CLICKHOUSE_URL DATABASE
bench_yaml() {
    cat <<YAML
listen: 127.0.0.1:$1
admin_listen: 127.0.0.1:$2
providers:
  fast-a: { kind: openai, base_url: "http://127.0.0.1:$3/v1" }
  fast-b: { kind: openai, base_url: "http://127.0.0.1:$4/v1" }
groups:
  bench:
    members:
      - { name: champion, role: champion, provider: fast-a, model: bench-a, weight: 90 }
      - { name: challenger, role: challenger, provider: fast-b, model: bench-b, weight: 10 }
records:
  spool: { dir: "$5" }
  clickhouse: { url: "$6", database: $7 }
YAML
}
