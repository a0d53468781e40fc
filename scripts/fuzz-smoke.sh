#!/usr/bin/env bash
# Fuzz smoke test for CI: builds every cargo-fuzz target in fuzz/ (nightly toolchain,
# instrumented, debug assertions on) and runs each for a few seconds on its committed
# corpus. Every committed input is replayed first, so a regression on a past finding fails
# at once. Fails on any crash, leak, timeout or out-of-memory; the failing input is left
# in fuzz/artifacts/<target>/. New inputs go to a scratch directory, never into the
# committed corpus.
#
# Environment: FUZZ_SECONDS (per target, default 5), FUZZ_TARGET_DIR (default fuzz/target).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.1
seconds="${FUZZ_SECONDS:-5}"
target_dir="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "fuzz-smoke: the nightly toolchain is missing; trying rustup toolchain install nightly" >&2
    rustup toolchain install nightly --profile minimal
fi
if [[ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

start=$SECONDS
cargo +nightly fuzz build --debug-assertions --target-dir "$target_dir"
echo "fuzz-smoke: build took $((SECONDS - start)) s"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in $(cargo +nightly fuzz list); do
    mkdir -p "$scratch/$t" "fuzz/corpus/$t"
    t0=$SECONDS
    if cargo +nightly fuzz run --debug-assertions --target-dir "$target_dir" "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$scratch/$t.log" 2>&1; then
        echo "fuzz-smoke: $t ok ($((SECONDS - t0)) s; $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$scratch/$t.log" | grep -o '[0-9]*$') runs)"
    else
        echo "fuzz-smoke: $t FAILED; the log's end:" >&2
        tail -n 40 "$scratch/$t.log" >&2
        failed+=("$t")
    fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz-smoke: crashed: ${failed[*]} (inputs in fuzz/artifacts/); total $((SECONDS - start)) s" >&2
    exit 1
fi
echo "fuzz-smoke: every target ran clean; total $((SECONDS - start)) s"
