#!/usr/bin/env bash
# Full check: install the validators (cached), then fmt, clippy and tests with
# LUCIAC_REQUIRE_VALIDATORS=1 so that no validator-backed test can be skipped.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VALIDATORS_DIR="${VALIDATORS_DIR:-$HOME/.cache/luciac-validators}"
./scripts/install-validators.sh "$VALIDATORS_DIR" >/dev/null
export PATH="$VALIDATORS_DIR/bin:$PATH"
export LUCIAC_REQUIRE_VALIDATORS=1

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets

# A short, time-boxed fuzz pass over the front end and every target (see scripts/fuzz.sh).
./scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
