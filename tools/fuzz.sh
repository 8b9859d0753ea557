#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60), one after another on one core,
# then prints a table of executions, coverage and crashes per target.
#
#   tools/fuzz.sh [SECONDS]
#
# Needs the nightly toolchain (rustup toolchain install nightly); installs cargo-fuzz if it
# is missing. Environment:
#   FUZZ_TARGETS     space-separated subset of targets (default: all, in the order below)
#   FUZZ_TARGET_DIR  cargo target dir of the sanitizer builds (default: fuzz/target); keep it
#                    apart from the normal target dir, the flags differ and would rebuild all
#
# libFuzzer runs in fork mode with one worker (-fork=1, one core) and keeps going after a
# crash, OOM or timeout, so one run finds every crash it can; each is saved under
# fuzz/artifacts/TARGET/. Copy a fixed one to tests/fixtures/fuzz/TARGET/ so that
# `cargo test --release --test fuzz_regressions` keeps checking it.
# Logs go to fuzz/logs/TARGET.log. The corpus grows in fuzz/corpus/TARGET (not committed);
# the committed seeds are fuzz/seeds/TARGET plus the fixtures named below.
set -euo pipefail

secs="${1:-60}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "usage: tools/fuzz.sh [SECONDS ≥ 1]" >&2
    exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"
if ! command -v cargo-fuzz > /dev/null; then
    cargo install cargo-fuzz
fi
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$root/fuzz/target}"
read -r -a targets <<< "${FUZZ_TARGETS:-tokenizer_json model_files seq2seq_files cli_args spec_compute session gguf}"

# Extra read-only seed folders per target (libFuzzer only writes to the first corpus dir).
seeds_of() {
    local t="$1"
    echo "seeds/$t"
    [ -d "$root/tests/fixtures/fuzz/$t" ] && echo "$root/tests/fixtures/fuzz/$t"
    if [ "$t" = spec_compute ]; then
        echo "$root/tests/fixtures/specs"
        echo "$root/sample_models/lessons"
    fi
    if [ "$t" = gguf ]; then
        echo "$root/tests/fixtures/gguf"
    fi
    return 0
}

mkdir -p logs
declare -A execs cov ft crashes
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    marker="$(mktemp)"
    dict=()
    [ -f "$t.dict" ] && dict=("-dict=$t.dict")
    mapfile -t seed_dirs < <(seeds_of "$t")
    echo "== $t: ${secs}s ($(date -u +%H:%M:%S) UTC)"
    # Build first (a failed build must stop the script, not count as a clean run).
    cargo +nightly fuzz build "$t"
    cargo +nightly fuzz run "$t" "corpus/$t" "${seed_dirs[@]}" -- \
        -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 "${dict[@]}" \
        > "logs/$t.log" 2>&1 || true
    last="$(grep -E '^#[0-9]+' "logs/$t.log" | tail -n 1 || true)"
    execs[$t]="$(sed -nE 's/^#([0-9]+).*/\1/p' <<< "$last")"
    cov[$t]="$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<< "$last")"
    ft[$t]="$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<< "$last")"
    crashes[$t]="$(find "artifacts/$t" -type f -newer "$marker" | wc -l)"
    rm -f "$marker"
done

printf '\n| target | seconds | executions | cov | ft | new artifacts (crash/oom/timeout) |\n'
printf '|---|---:|---:|---:|---:|---:|\n'
for t in "${targets[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s |\n' "$t" "$secs" "${execs[$t]:-?}" "${cov[$t]:-?}" \
        "${ft[$t]:-?}" "${crashes[$t]}"
done
echo "logs: fuzz/logs/, artifacts: fuzz/artifacts/"
