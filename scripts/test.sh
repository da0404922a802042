#!/usr/bin/env bash
# Full check: install the validators and the engines (both cached), build the test images, start
# the engines, then fmt, clippy and tests with LUCIAC_REQUIRE_VALIDATORS=1 and
# LUCIAC_REQUIRE_ENGINES=1 so that no validator- or engine-backed test can be skipped, then a
# short fuzz pass (scripts/fuzz.sh).
# The engines are stopped, and what they left removed, however the tests end; anything still
# there after that fails the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$SECONDS

VALIDATORS_DIR="${VALIDATORS_DIR:-$HOME/.cache/luciac-validators}"
./scripts/install-validators.sh "$VALIDATORS_DIR" >/dev/null
export PATH="$VALIDATORS_DIR/bin:$PATH"
export LUCIAC_REQUIRE_VALIDATORS=1

./scripts/engines.sh install
./scripts/engines.sh images
RUN_DIR="$PWD/target/e2e-run"
./scripts/engines.sh stop "$RUN_DIR"
trap './scripts/engines.sh stop "$RUN_DIR"' EXIT
eval "$(./scripts/engines.sh start "$RUN_DIR")"
export LUCIAC_REQUIRE_ENGINES=1
rm -f target/e2e-timings.txt
echo "test.sh: validators, engines and images ready after $((SECONDS - start)) s" >&2

status=0
{
  cargo fmt --all -- --check &&
    cargo clippy --all-targets -- -D warnings &&
    cargo test --all-targets
} || status=$?
trap - EXIT
./scripts/engines.sh stop "$RUN_DIR" || status=1
if [[ -f target/e2e-timings.txt ]]; then sed 's/^/test.sh: /' target/e2e-timings.txt >&2; fi
# A short, time-boxed fuzz pass over the front end and every target (see scripts/fuzz.sh),
# after the engines are stopped: it needs no engine.
./scripts/fuzz.sh "${FUZZ_SECONDS:-20}" || status=1
echo "test.sh: finished in $((SECONDS - start)) s (status $status)" >&2
exit "$status"
