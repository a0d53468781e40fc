#!/usr/bin/env bash
# A private ClickHouse cluster for Switchyard's tests: one ZooKeeper and three ClickHouse
# servers, all on 127.0.0.1 with their own ports and directories.
#
#   scripts/clickhouse-cluster.sh start         # install if missing, start ZooKeeper and the servers
#   scripts/clickhouse-cluster.sh stop          # stop everything `start` started (pidfiles)
#   scripts/clickhouse-cluster.sh env           # print the `export SWITCHYARD_…` lines for the tests
#   scripts/clickhouse-cluster.sh status        # exit 0 when ZooKeeper and every server answer
#   scripts/clickhouse-cluster.sh kill-node N   # SIGKILL server N (1-3), as a crash would
#   scripts/clickhouse-cluster.sh start-node N  # start server N again on its data
#
# Servers and clusters (remote_servers of every server):
#   node 1: macros shard=01 replica=n1    sy_1x2: one shard, replicas node 1 and node 2
#   node 2: macros shard=01 replica=n2    sy_2x1: shard 1 = node 1, shard 2 = node 3
#   node 3: macros shard=02 replica=n3
# Every shard has internal_replication=true: a Distributed insert writes one replica and
# the Replicated*MergeTree tables copy it to the others through ZooKeeper. Distributed DDL
# (`ON CLUSTER`) queues in ZooKeeper under /clickhouse/task_queue/ddl.
#
# Idempotent: `start` on a running cluster only re-checks it; `stop` on a stopped one is a
# no-op. Runs non-interactively (CI is root with no stdin). Each server is started by
# scripts/clickhouse.sh (same config, logs and pidfile handling) with this cluster's part
# of its config in config.d/cluster.xml. Everything lives under $SWITCHYARD_CH_CLUSTER_DIR
# (default /tmp/switchyard-ch-cluster). Ports, all below the kernel's ephemeral range:
# ZooKeeper $SWITCHYARD_ZK_PORT (22181); node N: HTTP 2412N, native TCP 2400N, interserver
# 2401N (bases $SWITCHYARD_CH_CLUSTER_HTTP_BASE 24120, …_TCP_BASE 24000, …_INTERSERVER_BASE
# 24010); no other test uses them.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BASE_DIR="${SWITCHYARD_CH_CLUSTER_DIR:-/tmp/switchyard-ch-cluster}"
ZK_PORT="${SWITCHYARD_ZK_PORT:-22181}"
HTTP_BASE="${SWITCHYARD_CH_CLUSTER_HTTP_BASE:-24120}"
TCP_BASE="${SWITCHYARD_CH_CLUSTER_TCP_BASE:-24000}"
INTERSERVER_BASE="${SWITCHYARD_CH_CLUSTER_INTERSERVER_BASE:-24010}"
NODES=(1 2 3)
ZK_DIR="$BASE_DIR/zookeeper"
ZK_PIDFILE="$ZK_DIR/zookeeper.pid"

log() { echo "clickhouse-cluster.sh: $*" >&2; }

shard_of() { if [[ "$1" == 3 ]]; then echo 02; else echo 01; fi; }
http_port() { echo $((HTTP_BASE + $1)); }
tcp_port() { echo $((TCP_BASE + $1)); }
interserver_port() { echo $((INTERSERVER_BASE + $1)); }
node_dir() { echo "$BASE_DIR/node$1"; }
node_url() { echo "http://127.0.0.1:$(http_port "$1")"; }

# --- installation -------------------------------------------------------------------

zk_installed() { [[ -f /usr/share/java/zookeeper.jar ]] && command -v java >/dev/null 2>&1; }
ch_installed() { [[ -x /usr/sbin/clickhouse-server || -x /usr/bin/clickhouse-server ]] || command -v clickhouse >/dev/null 2>&1; }

install_missing() {
    local missing=()
    zk_installed || missing+=(zookeeper)
    ch_installed || missing+=(clickhouse-server)
    command -v curl >/dev/null 2>&1 || missing+=(curl ca-certificates)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    log "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
    # The packages may enable system services on the default ports; we never use them.
    if command -v systemctl >/dev/null 2>&1; then
        systemctl disable --now zookeeper clickhouse-server >/dev/null 2>&1 || true
    fi
}

# --- ZooKeeper ----------------------------------------------------------------------

# Debian's zookeeper.jar names the jars it needs (netty, jute, slf4j, …) in its manifest's
# Class-Path, as the package's own /etc/zookeeper/conf/environment relies on.
zk_classpath() { echo "/usr/share/java/zookeeper.jar"; }

# ZooKeeper's `ruok` four-letter word over bash's /dev/tcp (in a subshell: a refused
# connection must not end this script).
zk_answers() {
    local reply
    reply="$(
        exec 2>/dev/null
        exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT" || exit 1
        printf 'ruok' >&3
        timeout 2 cat <&3 || true
    )" || return 1
    [[ "$reply" == imok* ]]
}

pid_alive() {
    [[ -f "$1" ]] || return 1
    local pid
    pid="$(cat "$1")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

zk_start() {
    if pid_alive "$ZK_PIDFILE" >/dev/null && zk_answers; then
        log "zookeeper already running on 127.0.0.1:$ZK_PORT"
        return 0
    fi
    if zk_answers; then
        log "something else already answers on 127.0.0.1:$ZK_PORT; refusing to start a second zookeeper"
        return 1
    fi
    mkdir -p "$ZK_DIR/data" "$ZK_DIR/log"
    cat >"$ZK_DIR/zoo.cfg" <<EOF
tickTime=500
initLimit=10
syncLimit=5
dataDir=$ZK_DIR/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
maxClientCnxns=200
admin.enableServer=false
4lw.commands.whitelist=ruok,srvr,mntr
autopurge.purgeInterval=1
EOF
    log "starting zookeeper on 127.0.0.1:$ZK_PORT"
    (cd "$ZK_DIR" && exec setsid java -Xms64m -Xmx256m -XX:+UseSerialGC \
        -Dzookeeper.admin.enableServer=false \
        -cp "$(zk_classpath)" org.apache.zookeeper.server.ZooKeeperServerMain "$ZK_DIR/zoo.cfg" \
        </dev/null >>"$ZK_DIR/log/stdout.log" 2>&1) &
    echo $! >"$ZK_PIDFILE"
    for _ in $(seq 1 120); do
        if zk_answers; then
            log "zookeeper ready (pid $(cat "$ZK_PIDFILE"))"
            return 0
        fi
        if ! pid_alive "$ZK_PIDFILE" >/dev/null; then
            log "zookeeper exited during start-up; last log lines:"
            tail -n 30 "$ZK_DIR/log/stdout.log" >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.5
    done
    log "zookeeper did not answer ruok within 60 s"
    return 1
}

zk_stop() {
    local pid
    if ! pid="$(pid_alive "$ZK_PIDFILE")"; then
        rm -f "$ZK_PIDFILE"
        return 0
    fi
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$ZK_PIDFILE"
    log "zookeeper stopped"
}

# --- ClickHouse servers -------------------------------------------------------------

replica_xml() { echo "<replica><host>127.0.0.1</host><port>$(tcp_port "$1")</port></replica>"; }

write_cluster_config() {
    local n="$1" dir
    dir="$(node_dir "$n")"
    mkdir -p "$dir/config.d"
    cat >"$dir/config.d/cluster.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <zookeeper>
        <node><host>127.0.0.1</host><port>$ZK_PORT</port></node>
        <session_timeout_ms>10000</session_timeout_ms>
    </zookeeper>
    <macros>
        <shard>$(shard_of "$n")</shard>
        <replica>n$n</replica>
    </macros>
    <distributed_ddl>
        <path>/clickhouse/task_queue/ddl</path>
    </distributed_ddl>
    <remote_servers>
        <sy_1x2>
            <shard>
                <internal_replication>true</internal_replication>
                $(replica_xml 1)
                $(replica_xml 2)
            </shard>
        </sy_1x2>
        <sy_2x1>
            <shard>
                <internal_replication>true</internal_replication>
                $(replica_xml 1)
            </shard>
            <shard>
                <internal_replication>true</internal_replication>
                $(replica_xml 3)
            </shard>
        </sy_2x1>
    </remote_servers>
</yandex>
EOF
}

# scripts/clickhouse.sh ACTION for node N.
node_script() {
    local n="$1" action="$2"
    SWITCHYARD_CH_DIR="$(node_dir "$n")" \
        SWITCHYARD_CH_HTTP_PORT="$(http_port "$n")" \
        SWITCHYARD_CH_TCP_PORT="$(tcp_port "$n")" \
        SWITCHYARD_CH_INTERSERVER_PORT="$(interserver_port "$n")" \
        bash "$HERE/clickhouse.sh" "$action"
}

# Starts node $1, up to three tries: ClickHouse 18.16 now and then aborts during start-up
# (a pthread_mutex_lock assertion) or gives up on ZooKeeper connections made in its first
# second; a second start succeeds.
node_start() {
    write_cluster_config "$1"
    local attempt
    for attempt in 1 2 3; do
        if node_script "$1" start; then
            return 0
        fi
        log "node $1 did not start (try $attempt of 3)"
        node_kill "$1"
        sleep 1
    done
    return 1
}

node_kill() {
    local pidfile pid
    pidfile="$(node_dir "$1")/clickhouse.pid"
    if pid="$(pid_alive "$pidfile")"; then
        kill -9 "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        log "node $1 (pid $pid) killed"
    fi
    rm -f "$pidfile"
}

check_node() {
    case "${1:-}" in
        1 | 2 | 3) ;;
        *)
            echo "node must be 1, 2 or 3" >&2
            exit 2
            ;;
    esac
}

start() {
    install_missing
    zk_start
    local n
    for n in "${NODES[@]}"; do
        node_start "$n"
    done
    log "clusters sy_1x2 (nodes 1, 2) and sy_2x1 (nodes 1, 3) ready"
}

stop() {
    local n pids=()
    for n in "${NODES[@]}"; do
        node_script "$n" stop &
        pids+=($!)
    done
    for p in "${pids[@]}"; do
        wait "$p" || true
    done
    zk_stop
}

status() {
    zk_answers || return 1
    local n
    for n in "${NODES[@]}"; do
        node_script "$n" status || return 1
    done
}

print_env() {
    local urls=() n
    for n in "${NODES[@]}"; do
        urls+=("$(node_url "$n")")
    done
    local IFS=,
    echo "export SWITCHYARD_TEST_CH_CLUSTER_URLS=${urls[*]}"
    echo "export SWITCHYARD_CH_CLUSTER_DIR=$BASE_DIR"
    echo "export SWITCHYARD_ZK_PORT=$ZK_PORT"
    echo "export SWITCHYARD_CH_CLUSTER_HTTP_BASE=$HTTP_BASE"
    echo "export SWITCHYARD_CH_CLUSTER_TCP_BASE=$TCP_BASE"
    echo "export SWITCHYARD_CH_CLUSTER_INTERSERVER_BASE=$INTERSERVER_BASE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) print_env ;;
    kill-node)
        check_node "${2:-}"
        node_kill "$2"
        ;;
    start-node)
        check_node "${2:-}"
        node_start "$2"
        ;;
    *)
        echo "usage: $0 start|stop|status|env|kill-node N|start-node N" >&2
        exit 2
        ;;
esac
