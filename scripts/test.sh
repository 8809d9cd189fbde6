#!/usr/bin/env bash
# Runs every test: unit, snapshot, effect, book and leak checks.
#
#   scripts/test.sh
#
# Privileged tests need root: run as root, or as a user with sudo (cargo's
# runner, scripts/as-root, runs each test binary through sudo). Without root
# they skip with a message; under CI=true they fail instead.
set -euo pipefail
cd "$(dirname "$0")/.."

# Snapshots are checked, never written, here: a changed snapshot fails.
export INSTA_UPDATE=no

before=$(mktemp -d)
trap 'rm -rf "$before"' EXIT

echo "== recording the host's state for the leak check"
NSLAB_LEAKS_BEFORE="$before" cargo test --locked -q --test leaks -- --ignored --exact record_host_state

echo "== unit, snapshot and effect tests"
cargo test --locked

echo "== the book"
bash scripts/book.sh

echo "== leak check: nothing left behind on the host"
NSLAB_LEAKS_BEFORE="$before" cargo test --locked --test leaks -- --ignored --exact nothing_is_left_behind
