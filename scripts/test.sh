#!/usr/bin/env bash
# Every check CI runs: set-up, formatting, lints, all tests (including the
# real-model end-to-end tests on samples/) and the regression on samples.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo fmt --check
# Release profile throughout: whisper.cpp is then built once, not per profile.
cargo clippy --release --all-targets --locked -- -D warnings
cargo test --release --locked
target/release/callqa regress --card checklists/inbound-sales-ru.yaml --expect samples/expected.yaml samples/audio
