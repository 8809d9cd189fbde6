#!/usr/bin/env bash
# Mutation check: for each facility call, which test fails without it?
#
#   scripts/mutants.sh                       # every facility call (about 20 minutes on 2 cores)
#   scripts/mutants.sh -f 'src/net/*.rs'     # only these files (cargo-mutants options replace the list)
#
# cargo-mutants (https://mutants.rs) replaces one function body at a time,
# for example a narrated `pivot_root` with `Ok(())`, rebuilds, and runs the
# whole suite: a mutant the suite does not catch ("MISSED") is a kernel call
# whose removal no test notices. This script keeps to the mutants that
# skip a call (a body replaced with `Ok(())` or `()`) in the modules that
# make them; the report is in mutants.out/ (missed.txt, caught.txt).
# (cargo-mutants cannot empty a set of namespace flags: `CloneFlags` has no
# Default. The lesson tests compare every namespace with the host's.)
#
# Last full run, 2026-11-28, before lesson 06: 60 mutants, 55 caught,
# 4 timeouts (the signal-forwarding mutants: the lesson then never ends,
# which the suite's own timeouts turn into failures), 0 missed.
#
# Not part of CI: each mutant is a rebuild. Run it after changing a facility
# module, as root. Each test binary runs in throwaway namespaces
# (scripts/in-sandbox), because a mutant may drop a namespace flag.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "$(id -u)" != 0 ]]; then
    echo "mutants.sh: run it as root: the suite's privileged tests decide most mutants" >&2
    exit 1
fi
command -v cargo-mutants >/dev/null || cargo install --locked cargo-mutants

export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="$PWD/scripts/in-sandbox"
export INSTA_UPDATE=no

# The modules that make kernel calls; the probes, the lesson-side
# observers and the narration are left out.
files=(
    --file 'src/*.rs' --file 'src/mount/mod.rs' --file 'src/net/*.rs'
    --exclude 'src/net/observe.rs' --exclude 'src/doctor.rs' --exclude 'src/probe.rs'
    --exclude 'src/*/probe.rs' --exclude 'src/rootfs.rs' --exclude 'src/leftovers.rs'
    --exclude 'src/narrate.rs' --exclude 'src/report.rs' --exclude 'src/demo.rs'
    --exclude 'src/lesson.rs'
)
if [[ $# -gt 0 ]]; then
    files=("$@")
fi

exec cargo mutants --jobs 1 \
    --re 'with Ok\(\(\)\)$' --re 'with \(\)$' \
    "${files[@]}" \
    -- -- --include-ignored --skip record_host_state --skip nothing_is_left_behind
