#!/usr/bin/env bash
# Bounded fuzzing of every target, for CI and by hand: fuzz/run.sh [seconds per target]
#
# Installs cargo-fuzz if missing, builds every target (libFuzzer, AddressSanitizer) on the
# stable toolchain, then runs each for the given seconds (default 20, at most 60), starting
# from the checked-in corpus. New inputs go to a scratch directory, not into fuzz/corpus
# (minimizing into the corpus is a separate step: README.md). Exits non-zero if any target
# crashed, printing where the crashing input is; add it to fuzz/corpus/<target>/ once fixed.
set -euo pipefail
cd "$(dirname "$0")"

secs="${1:-20}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "usage: fuzz/run.sh [seconds per target, 1-60]" >&2
    exit 64
fi
[ "$secs" -gt 60 ] && secs=60

# cargo-fuzz's flags include -Zsanitizer and friends; RUSTC_BOOTSTRAP lets the stable
# compiler take them (there is no nightly toolchain here). See README.md.
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked --version 0.13.2
fi

start=$(date +%s)
echo "== cargo fuzz build"
cargo fuzz build
echo "build took $(( $(date +%s) - start )) s"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/fuzz-run.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in $(cargo fuzz list); do
    mkdir -p "$scratch/$t" "artifacts/$t"
    echo "== $t (${secs} s)"
    # The first directory receives new inputs; corpus/<target> is only read.
    # -timeout: an input that takes 30 s is a hang, reported like a crash.
    if ! cargo fuzz run "$t" "$scratch/$t" "corpus/$t" -- \
            -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
            -artifact_prefix="artifacts/$t/" 2> "$scratch/$t.log"; then
        failed+=("$t")
        tail -n 60 "$scratch/$t.log"
        echo "!!! $t crashed; the input is in fuzz/artifacts/$t/ (reproduce:" \
             "cargo run -p fuzz-harness --example replay -- $t <file>)"
    fi
    grep -E "^stat::number_of_executed_units|^stat::average_exec_per_sec|^#[0-9]+ +DONE" \
        "$scratch/$t.log" | tr '\n' ' ' || true
    echo
done
echo "fuzzing took $(( $(date +%s) - start )) s in all"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "!!! crashed: ${failed[*]}"
    exit 1
fi
echo "no crash in $(cargo fuzz list | wc -l) targets"
