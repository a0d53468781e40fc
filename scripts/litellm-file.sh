#!/usr/bin/env bash
# LiteLLM's model_prices_and_context_window.json, as shipped inside the pinned `litellm`
# wheel on PyPI, for catalog/tests/litellm_file.rs (which imports the real file).
#
#   bash scripts/litellm-file.sh          # idempotent: downloads only when the file is missing
#   bash scripts/litellm-file.sh --path   # prints where the file is (or would be); no network
#
# The wheel is downloaded with a pinned sha256 and never installed or imported: only the
# JSON is read out of it (litellm/model_prices_and_context_window_backup.json). The file
# goes to $SWITCHYARD_CACHE_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/switchyard).
# Uses $SWITCHYARD_PYTHON (default python3) and its pip; runs as root with no stdin (CI).
set -euo pipefail

VERSION=1.91.5
SHA256=db09c6ea0b7c7de034b6c8b628208b000b54e02ef557468f84c2e63fbd7c8560
MEMBER=litellm/model_prices_and_context_window_backup.json

CACHE="${SWITCHYARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/switchyard}"
OUT="$CACHE/litellm-$VERSION/model_prices_and_context_window.json"
if [ "${1:-}" = "--path" ]; then
    echo "$OUT"
    exit 0
fi
if [ -s "$OUT" ]; then
    echo "litellm-file.sh: present: $OUT"
    exit 0
fi

PY="${SWITCHYARD_PYTHON:-python3}"
if ! command -v "$PY" >/dev/null 2>&1 || ! "$PY" -m pip --version >/dev/null 2>&1; then
    "$PY" -m ensurepip --upgrade >/dev/null 2>&1 || {
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q </dev/null
        apt-get install -y -q --no-install-recommends python3 python3-pip </dev/null
    }
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "litellm==$VERSION --hash=sha256:$SHA256" >"$tmp/requirements.txt"
echo "litellm-file.sh: downloading the litellm $VERSION wheel (not installing it)" >&2
"$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --platform any \
    --require-hashes -r "$tmp/requirements.txt" -d "$tmp/wheel" </dev/null
mkdir -p "$(dirname "$OUT")"
"$PY" - "$tmp/wheel" "$MEMBER" "$OUT.tmp" <<'PY'
import glob, sys, zipfile
wheel_dir, member, out = sys.argv[1:]
(wheel,) = glob.glob(wheel_dir + "/litellm-*.whl")
with zipfile.ZipFile(wheel) as z, open(out, "wb") as f:
    f.write(z.read(member))
PY
mv "$OUT.tmp" "$OUT"
echo "litellm-file.sh: wrote $OUT"
