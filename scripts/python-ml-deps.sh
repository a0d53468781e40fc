#!/usr/bin/env bash
# Real ML software for switchyard/tests/explain_shap.rs: Seldon's MLServer with its
# scikit-learn runtime (serves models over the Open Inference Protocol), scikit-learn
# (trains the models on a dataset it ships), and the `shap` library (computes the
# attributions the test compares against). Installed in a dedicated virtual environment,
# pinned, so they never disturb the system Python or scripts/python-test-deps.sh.
#
#   bash scripts/python-ml-deps.sh        # idempotent: installs only when a pin is missing
#
# The venv is $SWITCHYARD_ML_VENV (default: $HOME/.cache/switchyard/ml-venv); the test
# reads the same variable. A fresh install downloads ~200 MB of wheels and takes about
# 45 s here (743 MB on disk). Uses $SWITCHYARD_PYTHON (default python3, 3.9–3.12);
# runs non-interactively as root (CI).
set -euo pipefail

PY="${SWITCHYARD_PYTHON:-python3}"
VENV="${SWITCHYARD_ML_VENV:-$HOME/.cache/switchyard/ml-venv}"
PINS=(mlserver==1.7.1 mlserver-sklearn==1.7.1 scikit-learn==1.6.1 shap==0.48.0
      numpy==2.4.6 pandas==3.1.1 scipy==1.17.1 joblib==1.6.0)

if ! command -v "$PY" >/dev/null 2>&1 || ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "python-ml-deps.sh: installing python3 and venv with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null
    apt-get install -y -q --no-install-recommends python3 python3-venv python3-pip </dev/null
    PY=python3
fi

want=$(printf '%s\n' "${PINS[@]}" | sort)
if [ -x "$VENV/bin/python" ]; then
    have=$("$VENV/bin/python" -m pip freeze --disable-pip-version-check 2>/dev/null | tr 'A-Z_' 'a-z-' | sort || true)
    missing=$(comm -23 <(echo "$want" | tr 'A-Z_' 'a-z-') <(echo "$have"))
    if [ -z "$missing" ]; then
        echo "python-ml-deps.sh: present in $VENV: ${PINS[*]}"
        exit 0
    fi
fi

started=$(date +%s)
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PINS[@]}" </dev/null
"$VENV/bin/python" -c 'import mlserver, mlserver_sklearn, sklearn, shap' 
echo "python-ml-deps.sh: installed ${PINS[*]} in $VENV in $(( $(date +%s) - started )) s"
