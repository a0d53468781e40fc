#!/usr/bin/env bash
# Python packages Switchyard's tests use: chdb-core (a current ClickHouse engine embedded in
# Python) for records/tests/sql_compat.rs, which proves our DDL and analytics queries run
# on current ClickHouse as well as on the 18.16 test server.
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

if "$PY" -c 'import chdb' >/dev/null 2>&1; then
    echo "python-test-deps.sh: chdb-core present ($("$PY" -c 'import chdb; print(chdb.__version__)'))"
    exit 0
fi

if ! "$PY" -m pip --version >/dev/null 2>&1; then
    "$PY" -m ensurepip --upgrade >/dev/null 2>&1 || {
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q </dev/null
        apt-get install -y -q --no-install-recommends python3-pip </dev/null
    }
fi

echo "python-test-deps.sh: installing chdb-core with pip" >&2
# Debian's system Python refuses global installs (PEP 668) unless told otherwise.
"$PY" -m pip install -q --disable-pip-version-check 'chdb-core>=26' </dev/null \
    || "$PY" -m pip install -q --disable-pip-version-check --break-system-packages 'chdb-core>=26' </dev/null
"$PY" -c 'import chdb; print("python-test-deps.sh: chdb-core", chdb.__version__)'
