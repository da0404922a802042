#!/usr/bin/env bash
# Time-boxed fuzzing of the whole front end and every target with cargo-fuzz (libFuzzer).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 20; FUZZ_SECONDS works too)
#
# Targets (fuzz/fuzz_targets/): `front_end` feeds arbitrary bytes, seeded with the
# committed declarations: tests/corpus/ and lucia.kdl with each profile (a NUL separates
# base and profile); `structured` builds declarations from
# luciac's own vocabulary; both run parse, decode, overlay, resolve, every target, the
# packer and both diagnostic renderers. A crash fails the script and leaves its input in
# fuzz/artifacts/<target>/; turn it into a regression test (tests/corpus/ or
# tests/diagnostics.rs) before fixing it.
#
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer). The toolchain here is stable, so
# RUSTC_BOOTSTRAP=1 unlocks them for this build only; it changes nothing else.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_PER_TARGET="${1:-${FUZZ_SECONDS:-20}}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: installing cargo-fuzz from crates.io" >&2
    cargo install cargo-fuzz --locked
fi

# Seeds: the repository's declaration with each of its profiles, in the target's format.
mkdir -p fuzz/logs fuzz/seeds/front_end fuzz/seeds/structured
cp lucia.kdl fuzz/seeds/front_end/lucia.kdl
for p in profiles/*.kdl; do
    { cat lucia.kdl; printf '\0'; cat "$p"; } >"fuzz/seeds/front_end/lucia+$(basename "$p")"
done
cp tests/corpus/*.kdl fuzz/seeds/front_end/

for target in front_end structured; do
    # libFuzzer adds what it finds to the first directory (kept between runs, not committed)
    # and reads the seeds from the second.
    mkdir -p "fuzz/corpus/$target"
    log="fuzz/logs/$target.log"
    # The structured target needs a few hundred bytes to describe a declaration: start there
    # instead of letting libFuzzer grow the length slowly from a handful of bytes.
    case "$target" in
        structured) sizes=(-max_len=4096 -len_control=0) ;;
        *) sizes=(-max_len=65536) ;;
    esac
    echo "fuzz.sh: $target for ${SECONDS_PER_TARGET}s (log: $log)" >&2
    # -rss_limit_mb: luciac must stay in bounded memory.
    if ! cargo fuzz run -O "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" "${sizes[@]}" -rss_limit_mb=2048 \
        -timeout=30 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "fuzz.sh: $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    grep -E '^(stat::number_of_executed_units|Done )' "$log" >&2 || true
done
echo "fuzz.sh: no crash" >&2
