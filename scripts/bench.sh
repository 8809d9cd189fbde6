#!/usr/bin/env bash
# How long the lessons take, measured rather than asserted.
#
#   scripts/bench.sh
#
# No test depends on wall-clock speed (a slow CI machine must not fail
# one): speed is looked at here instead, with hyperfine
# (https://github.com/sharkdp/hyperfine), on release builds:
#
# 1. the first run of a lesson, which builds the default rootfs
#    (`nslab cleanup --rootfs` removes it before each run);
# 2. each lesson once the rootfs exists, with `-q -- true` as the command,
#    so what is measured is the container's start and end, not a demo.
#
# Measured on the 2-core CI VM, 2026-11-28: the first run, building the
# rootfs from busybox, 22 to 35 ms; 00-process 2 ms; 01 to 05 5 to 8 ms
# each; 06-net with a bridge about 125 ms (a bridge, a veth pair and a
# network namespace made and torn down).
#
# The state directory is target/bench-state, removed at the end. The table
# is also written to target/bench.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "$(id -u)" != 0 ]]; then
    echo "bench.sh: run it as root: lessons 01 on create namespaces and mounts" >&2
    exit 1
fi
# hyperfine 2 needs a newer rustc than the pinned toolchain.
command -v hyperfine >/dev/null || cargo install --locked hyperfine --version 1.20.0

cargo build --locked --release --bins
bin=target/release
state=$PWD/target/bench-state
trap '"$bin/nslab" cleanup --rootfs --state-dir "$state" >/dev/null; rm -rf "$state"' EXIT

lessons=()
for lesson in 01-chroot 02-pid 03-mount 04-uts 05-ipc; do
    lessons+=(-n "$lesson" "$bin/$lesson -q --state-dir $state -- true")
done
# 06 in a network namespace of its own (unshare --net), as in the tests:
# its bridge and veth pair never touch the machine's network.
lessons+=(-n "06-net (bridge)" "unshare --net -- $bin/06-net -q --state-dir $state --run-dir $state/run -- true")

hyperfine -N --warmup 1 --runs 10 --export-markdown target/bench.md \
    --prepare "$bin/nslab cleanup --rootfs --state-dir $state" \
    -n "first run: builds the rootfs" "$bin/01-chroot -q --state-dir $state -- true"

hyperfine -N --warmup 3 --export-markdown target/bench-lessons.md \
    -n 00-process "$bin/00-process -q -- true" "${lessons[@]}"
cat target/bench-lessons.md >> target/bench.md
