#!/usr/bin/env bash
# Runs every test: unit, snapshot, effect, book and leak checks.
#
#   scripts/test.sh
#
# Privileged tests are marked #[ignore = "needs root…"]: a plain `cargo test`
# without root counts them as ignored. This script runs them too
# (--include-ignored), as root: cargo's runner, scripts/as-root, runs each
# test binary through sudo when you are not root. Under CI=true, not being
# able to run them is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

# Snapshots are checked, never written, here: a changed snapshot fails.
export INSTA_UPDATE=no

if [[ "$(id -u)" != 0 ]] && ! command -v sudo >/dev/null; then
    if [[ "${CI:-}" == true ]]; then
        echo "test.sh: CI=true, but neither root nor sudo: the privileged tests cannot run" >&2
        exit 1
    fi
    echo "test.sh: not root and no sudo: running only the tests that need no root" >&2
    ignored=()
else
    ignored=(--include-ignored)
fi

before=$(mktemp -d)
trap 'rm -rf "$before"' EXIT

echo "== recording the host's state for the leak check"
NSLAB_LEAKS_BEFORE="$before" cargo test --locked -q --test leaks -- --ignored --exact record_host_state

echo "== unit, snapshot and effect tests"
cargo test --locked -- "${ignored[@]}" --skip record_host_state --skip nothing_is_left_behind

echo "== the book"
bash scripts/book.sh

echo "== leak check: nothing left behind on the host"
NSLAB_LEAKS_BEFORE="$before" cargo test --locked --test leaks -- --ignored --exact nothing_is_left_behind
