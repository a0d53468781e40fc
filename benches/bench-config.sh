# shellcheck shell=bash
# The gateway config every bench script runs: group `bench` (champion 90 % / challenger 10 %
# on the fast upstream's two ports), records spooled and shipped to ClickHouse. Sourced by
# load/run.sh, instructions.sh, idle-rss.sh and syscalls.sh, so they measure the same thing;
# `bench_nginx_conf` is the nginx that instructions.sh and syscalls.sh compare with, and
# `bench_need` / `bench_build` / `bench_cleanup` their installs, builds and clean-up.
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

# nginx as the load harness runs it (access log on, keep-alive to the upstream, the same
# 90/10 split), one worker in one process (`master_process off`, so `$!` is the process
# that serves); writes DIR/nginx.conf and creates DIR/logs and DIR/tmp.
#
#   bench_nginx_conf DIR PORT UPSTREAM_A UPSTREAM_B
bench_nginx_conf() {
    mkdir -p "$1/logs" "$1/tmp"
    cat >"$1/nginx.conf" <<CONF
worker_processes 1;
master_process off;
daemon off;
pid $1/nginx.pid;
error_log $1/logs/error.log warn;
events { worker_connections 8192; }
http {
    access_log $1/logs/access.log;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
    keepalive_requests 1000000;
    upstream fast_a { server 127.0.0.1:$3; keepalive 256; }
    upstream fast_b { server 127.0.0.1:$4; keepalive 256; }
    split_clients "\$request_id" \$pool { 90% fast_a; * fast_b; }
    server {
        listen 127.0.0.1:$2;
        location / {
            proxy_pass http://\$pool;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
CONF
}

# Installs, from Debian, the package of each COMMAND:PACKAGE whose command is missing.
#
#   bench_need COMMAND:PACKAGE...
bench_need() {
    local missing=() pair sudo_cmd=()
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
    done
    if [ ${#missing[@]} -eq 0 ]; then return 0; fi
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Sets BIN (the directory holding loadgen and fast-upstream) from TOOLS, and SY_BIN when
# TARGET is switchyard, building target/release's copies of whichever was not given.
bench_build() {
    local target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
    if [ -z "$TOOLS" ]; then
        cargo build --release -q -p switchyard-benches --bin loadgen --bin fast-upstream
        TOOLS=$target_dir/release
    fi
    if [ -z "$SY_BIN" ] && [ "$TARGET" = switchyard ]; then
        cargo build --release -q -p switchyard
        SY_BIN=$target_dir/release/switchyard
    fi
    BIN=$TOOLS
}

# Stops every process in PIDS and removes WORK: each script's `trap bench_cleanup EXIT`.
bench_cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
