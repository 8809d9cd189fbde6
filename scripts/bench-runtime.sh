#!/usr/bin/env bash
# How fast `nslab`, the OCI runtime, starts a container, next to runc and
# crun on the same bundle.
#
#   scripts/bench-runtime.sh [--runs N] [--profile]
#
# Measured with hyperfine (https://github.com/sharkdp/hyperfine) on a
# release build, for each runtime (nslab, runc, crun; one that is not
# installed is skipped: `apt-get install -y runc crun`):
#
# 1. `RUNTIME run ID` of a bundle whose process is /bin/true (busybox), the
#    config.json that `nslab spec` writes with only process.args changed;
# 2. the full cycle an engine drives: `create`, `start`, `state` until it
#    says stopped, `delete` (a helper, cycle.sh, in bash: its start-up,
#    1 to 2 ms, is in every runtime's number alike);
# 3. the peak memory (max RSS) of one `run`: GNU time's %M, or getrusage
#    through python3 without it. It is the largest single process the
#    runtime waited for (runc's re-executed init counts), not the tree's sum.
#
# Twice: on the host as it is (hybrid: cgroup v1 controllers, cgroup2 at
# /sys/fs/cgroup/unified), where crun refuses to run ("cgroups in hybrid
# mode not supported"), and then, for a fair three-way table, in a private
# mount namespace where only cgroup2 is mounted at /sys/fs/cgroup (the
# host's mounts are never touched: the unmount happens only in that
# namespace). A runtime that fails in a setting is skipped there, with its
# error; a per-runtime change to the config is made on a copy only when
# the runtime fails without it, and the output says which.
#
# With --profile, also where nslab's time goes: one `nslab run` under
# strace (-f --seccomp-bpf -ttt -T, so that untraced system calls cost
# nothing), summarised as a timeline, in each setting.
#
# Measured on the 2-core CI VM, 2026-11-28 (runc 1.1.5, crun 1.8.1, 30
# runs, medians over a few runs of the script): `run` nslab 5 to 6 ms,
# runc 19 to 23 ms, crun (cgroup2 only) 6 ms; the cycle nslab 12 to 14 ms,
# runc 37 to 38 ms, crun 16 ms; peak RSS nslab 5.3 MiB, runc 9.7 MiB, crun
# 3.3 MiB. On the hybrid host, nslab's first write to a cgroup v1
# cgroup.procs after the machine was idle takes 10 to 30 ms (the kernel's,
# not nslab's: runc pays it too); back-to-back runs mostly miss it, the
# maxima show it. With this config crun loads no device filter (its
# devices list is empty) where nslab and runc load one.
#
# Everything lives in a mktemp -d directory, removed at the end with every
# container made (delete --force per runtime) and any cgroup left under
# this run's ids. The summary is printed and written to
# target/bench-runtime.md.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=30
profile=false
while (($#)); do
    case $1 in
        --runs)
            runs=${2:?--runs needs a number}
            shift 2
            ;;
        --profile)
            profile=true
            shift
            ;;
        -h | --help)
            sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
            exit 0
            ;;
        *)
            echo "bench-runtime.sh: unknown argument $1 (see --help)" >&2
            exit 2
            ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || {
    echo "bench-runtime.sh: --runs wants a positive number, not $runs" >&2
    exit 2
}

if [[ "$(id -u)" != 0 ]]; then
    echo "bench-runtime.sh: run it as root: containers need namespaces, mounts and cgroups" >&2
    exit 1
fi
if ! command -v python3 >/dev/null; then
    echo "bench-runtime.sh: python3 is needed (config.json edits, the summary): apt-get install -y python3" >&2
    exit 1
fi
# hyperfine 2 needs a newer rustc than the pinned toolchain.
command -v hyperfine >/dev/null || cargo install --locked hyperfine --version 1.20.0

cargo build --locked --release --bin nslab

work=$(mktemp -d "${TMPDIR:-/tmp}/nslab-bench-runtime.XXXXXX")
if [[ $work =~ [[:space:]] ]]; then
    # hyperfine -N splits commands on whitespace.
    echo "bench-runtime.sh: the temporary directory $work has a space in its path: set TMPDIR" >&2
    rmdir "$work"
    exit 1
fi
# Every container id and cgroup this run makes starts with this.
prefix=bench-rt-$$
settings=(host cgroup2)
declare -A runtime_path=()
runtimes=()

# Runs "$@" in a new, private mount namespace where /sys/fs/cgroup is the
# cgroup2 hierarchy alone. The unmount is made only after checking that
# this is not the mount namespace the script started in.
in_cgroup2_ns() {
    # shellcheck disable=SC2016 # expanded by the inner sh, in the namespace
    BENCH_OUTER_MNT_NS=$(readlink /proc/self/ns/mnt) \
        unshare -m --propagation private sh -c '
            if [ "$(readlink /proc/self/ns/mnt)" = "$BENCH_OUTER_MNT_NS" ]; then
                echo "bench-runtime.sh: not in a new mount namespace: refusing to unmount" >&2
                exit 125
            fi
            umount -R /sys/fs/cgroup 2>/dev/null || umount -l /sys/fs/cgroup || exit 125
            mount -t cgroup2 none /sys/fs/cgroup || exit 125
            exec "$@"' in-cgroup2-ns "$@"
}

# Runs "$@" in setting $1: the host as it is, or the cgroup2-only namespace.
run_in() {
    local setting=$1
    shift
    if [[ $setting == host ]]; then
        "$@"
    else
        in_cgroup2_ns "$@"
    fi
}

# The cgroups under this run's ids, deepest first (runc nests its memory
# cgroup under its caller's, so they are looked for a few levels down).
our_cgroups() {
    find /sys/fs/cgroup -mindepth 1 -maxdepth 6 -depth -type d -name "$prefix-*" 2>/dev/null
}

# Removes the cgroups left under this run's ids (crun leaves one behind
# when it fails half-way); rmdir removes only empty ones.
sweep_cgroups() {
    local dir
    while IFS= read -r dir; do
        if rmdir "$dir" 2>/dev/null; then
            echo "   removed a cgroup left behind: $dir"
        fi
    done < <(our_cgroups)
}

# Deletes (--force) every container left under this run's roots, and
# their cgroups. After an interrupt a runtime may still be finishing a
# `run`, which then removes its container itself: hence a few rounds.
cleanup() {
    set +e
    local setting r root dir left
    for _ in {1..25}; do
        left=0
        for setting in "${settings[@]}"; do
            for r in "${runtimes[@]}"; do
                root=$work/root/$setting/$r
                for dir in "$root/$prefix"-*/; do
                    [[ -d $dir ]] || continue
                    left=1
                    run_in "$setting" "${runtime_path[$r]}" --root "$root" delete --force "$(basename "$dir")" \
                        </dev/null >/dev/null 2>&1
                done
            done
        done
        sweep_cgroups
        [[ $left == 0 && -z $(our_cgroups) ]] && break
        sleep 0.2
    done
    for dir in $(our_cgroups) "$work"/root/*/*/"$prefix"-*/; do
        if [[ -d $dir ]]; then
            echo "bench-runtime.sh: WARNING: left behind: $dir" >&2
        fi
    done
    if grep -qF " $work" /proc/self/mountinfo; then
        echo "bench-runtime.sh: something is mounted under $work: not removing it" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A copy of the binary: a rebuild during the benchmark must not change it.
cp target/release/nslab "$work/nslab"
runtime_path[nslab]=$work/nslab
runtimes=(nslab)
skipped_runtimes=()
for r in runc crun; do
    if command -v "$r" >/dev/null; then
        runtime_path[$r]=$(command -v "$r")
        runtimes+=("$r")
    else
        echo "== $r is not installed: skipped (Debian 12: apt-get install -y $r)"
        skipped_runtimes+=("$r")
    fi
done

echo "== the bundle, in $work/bundle"
bundle=$work/bundle
mkdir -p "$bundle"
if [[ -d /var/lib/nslab/rootfs ]]; then
    echo "   rootfs: a copy of /var/lib/nslab/rootfs"
    cp -ax /var/lib/nslab/rootfs "$bundle/rootfs"
elif [[ -x /bin/busybox ]] && ! ldd /bin/busybox >/dev/null 2>&1; then
    echo "   rootfs: /bin/busybox (static) with busybox --install -s"
    mkdir -p "$bundle/rootfs"/{bin,dev,etc,proc,sys,tmp,usr/bin,usr/sbin,sbin}
    cp /bin/busybox "$bundle/rootfs/bin/busybox"
    # In a chroot busybox links its applets to argv[0], /bin/busybox.
    chroot "$bundle/rootfs" /bin/busybox --install -s
else
    echo "bench-runtime.sh: no rootfs: neither /var/lib/nslab/rootfs nor a static /bin/busybox (apt-get install -y busybox-static)" >&2
    exit 1
fi
"$work/nslab" spec --bundle "$bundle"
python3 - "$bundle/config.json" <<'EOF'
import json, sys
path = sys.argv[1]
with open(path) as f:
    config = json.load(f)
config["process"]["args"] = ["/bin/true"]
with open(path, "w") as f:
    json.dump(config, f, indent=2)
EOF

cat >"$work/cycle.sh" <<'EOF'
#!/bin/bash
# create, start, state until stopped, delete: one container, one runtime.
set -eu
rt=$1 root=$2 bundle=$3 id=$4 err=$5
# The container inherits create's stdio: not hyperfine's pipes.
"$rt" --root "$root" create --bundle "$bundle" "$id" </dev/null >/dev/null 2>"$err" || {
    cat "$err" >&2
    exit 1
}
"$rt" --root "$root" start "$id"
polls=0
until [[ $("$rt" --root "$root" state "$id") =~ \"status\":[[:space:]]*\"stopped\" ]]; do
    if ((++polls > 5000)); then
        echo "cycle.sh: $id not stopped after $polls polls of state" >&2
        exit 1
    fi
done
"$rt" --root "$root" delete "$id"
EOF
chmod +x "$work/cycle.sh"

: >"$work/manifest.tsv"
for r in "${skipped_runtimes[@]}"; do
    for setting in "${settings[@]}"; do
        printf '%s\t%s\tskipped\tnot installed (apt-get install -y %s)\t\n' "$setting" "$r" "$r" >>"$work/manifest.tsv"
    done
done
declare -A bundle_for=()
declare -A ok=()
# What was changed in the config, per setting/runtime, when anything was.
declare -A adjusted_why=()

# One `run` of runtime $2 in setting $1 with bundle $3; its error in $work/probe.err.
probe() {
    local setting=$1 r=$2 bundle=$3
    run_in "$setting" "${runtime_path[$r]}" --root "$work/root/$setting/$r" \
        run --bundle "$bundle" "$prefix-$r-probe" </dev/null >/dev/null 2>"$work/probe.err"
}

# Why a probe failed, on one line.
probe_error() {
    grep -v '^[[:space:]]*$' "$work/probe.err" | tail -n 3 | tr '\n' ' ' | sed 's/ *$//'
}

for setting in "${settings[@]}"; do
    if [[ $setting == host ]]; then
        echo "== setting 1: the host as it is ($(grep -c ' - cgroup ' /proc/self/mountinfo) cgroup v1 hierarchies, cgroup2 at /sys/fs/cgroup/unified)"
    else
        echo "== setting 2: a private mount namespace with only cgroup2 at /sys/fs/cgroup"
    fi
    for r in "${runtimes[@]}"; do
        mkdir -p "$work/root/$setting/$r"
        bundle_for[$setting/$r]=$bundle
        if probe "$setting" "$r" "$bundle"; then
            ok[$setting/$r]=1
            echo "   $r: runs"
            continue
        fi
        error=$(probe_error)
        run_in "$setting" "${runtime_path[$r]}" --root "$work/root/$setting/$r" \
            delete --force "$prefix-$r-probe" </dev/null >/dev/null 2>&1 || true
        sweep_cgroups
        # crun raises RLIMIT_MEMLOCK before loading a device eBPF program,
        # which fails without CAP_SYS_RESOURCE: its copy of the config then
        # goes without linux.resources (it keeps its cgroup, unlike
        # --cgroup-manager=disabled, which would make it do less work).
        if [[ $r == crun && $setting == cgroup2 && $error == *MEMLOCK* ]]; then
            adjusted=$work/bundle-crun-no-resources
            mkdir -p "$adjusted"
            python3 - "$bundle/config.json" "$adjusted/config.json" "$bundle/rootfs" <<'EOF'
import json, sys
source, dest, rootfs = sys.argv[1:]
with open(source) as f:
    config = json.load(f)
config["linux"].pop("resources", None)
config["root"]["path"] = rootfs
with open(dest, "w") as f:
    json.dump(config, f, indent=2)
EOF
            if probe "$setting" "$r" "$adjusted"; then
                ok[$setting/$r]=1
                bundle_for[$setting/$r]=$adjusted
                adjusted_why[$setting/$r]="linux.resources removed from its copy of config.json (without it: $error)"
                echo "   $r: runs with linux.resources removed from its copy of config.json (without it: $error)"
                continue
            fi
            error="$error; and without linux.resources: $(probe_error)"
            run_in "$setting" "${runtime_path[$r]}" --root "$work/root/$setting/$r" \
                delete --force "$prefix-$r-probe" </dev/null >/dev/null 2>&1 || true
            sweep_cgroups
        fi
        echo "   $r: FAILED, skipped in this setting: $error"
        printf '%s\t%s\tskipped\t%s\t\n' "$setting" "$r" "$error" >>"$work/manifest.tsv"
    done
done
for setting in "${settings[@]}"; do
    for r in "${runtimes[@]}"; do
        [[ -n ${ok[$setting/$r]:-} ]] || continue
        printf '%s, %s: %s\n' "$r" "$([[ $setting == host ]] && echo hybrid host || echo cgroup2-only namespace)" \
            "${adjusted_why[$setting/$r]:-none: the config.json nslab spec wrote, with process.args [\"/bin/true\"]}"
    done
done >"$work/adjustments.txt"

# hyperfine, in setting $1, of `run` or the cycle ($2) for every runtime that ran.
bench() {
    local setting=$1 kind=$2 r rt root id cmd
    local args=()
    for r in "${runtimes[@]}"; do
        [[ -n ${ok[$setting/$r]:-} ]] || continue
        rt=${runtime_path[$r]}
        root=$work/root/$setting/$r
        id=$prefix-$r-$kind
        if [[ $kind == run ]]; then
            cmd="$rt --root $root run --bundle ${bundle_for[$setting/$r]} $id"
        else
            cmd="$work/cycle.sh $rt $root ${bundle_for[$setting/$r]} $id $work/create-$setting-$r.err"
        fi
        # Not timed: a container an interrupted run left would make `run` fail.
        args+=(--prepare "$rt --root $root delete --force $id" -n "$r" "$cmd")
    done
    ((${#args[@]})) || return 0
    echo "== $setting: $kind"
    run_in "$setting" hyperfine -N --style basic --warmup 3 --runs "$runs" \
        --export-json "$work/$setting-$kind.json" "${args[@]}"
}

# The peak RSS, in KiB, of one `run` of runtime $2 in setting $1. Without
# GNU time, python3's getrusage: a child forked from python starts with
# python's own peak, which no exec lowers, so a number at or under that
# floor (python running the host's true) is printed as "<=FLOOR".
peak_rss() {
    local setting=$1 r=$2 out=$work/rss
    local cmd=("${runtime_path[$r]}" --root "$work/root/$setting/$r" run --bundle "${bundle_for[$setting/$r]}" "$prefix-$r-rss")
    if $gnu_time; then
        run_in "$setting" /usr/bin/time -f %M -o "$out" "${cmd[@]}" </dev/null >/dev/null 2>&1
        tail -n 1 "$out"
        return
    fi
    local getrusage='
import resource, subprocess, sys
subprocess.run(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
with open(sys.argv[1], "w") as f:
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=f)'
    local floor peak
    python3 -c "$getrusage" "$out" "$(command -v true)"
    floor=$(tail -n 1 "$out")
    run_in "$setting" python3 -c "$getrusage" "$out" "${cmd[@]}"
    peak=$(tail -n 1 "$out")
    if ((peak <= floor + floor / 50)); then
        echo "<=$floor"
    else
        echo "$peak"
    fi
}
if /usr/bin/time --version 2>&1 | grep -q GNU; then
    gnu_time=true
    rss_how="GNU time's %M"
else
    gnu_time=false
    rss_how="getrusage(RUSAGE_CHILDREN) in python3, whose own peak is a floor (GNU time is not installed: apt-get install -y time)"
fi

for setting in "${settings[@]}"; do
    bench "$setting" run
    bench "$setting" cycle
    for r in "${runtimes[@]}"; do
        [[ -n ${ok[$setting/$r]:-} ]] || continue
        printf '%s\t%s\tok\t\t%s\n' "$setting" "$r" "$(peak_rss "$setting" "$r")" >>"$work/manifest.tsv"
    done
done

versions="nslab $("$work/nslab" --version | awk '{print $2}')"
for r in runc crun; do
    [[ -n ${runtime_path[$r]:-} ]] && versions+=", $("${runtime_path[$r]}" --version | head -n 1)"
done

python3 - "$work" "$runs" "$rss_how" "$versions" "$(uname -r)" "$(nproc)" >target/bench-runtime.md <<'EOF'
import json, os, sys

work, runs, rss_how, versions, kernel, cpus = sys.argv[1:]
titles = {
    "host": "Hybrid host (cgroup v1 controllers; cgroup2 at /sys/fs/cgroup/unified)",
    "cgroup2": "cgroup2-only mount namespace (unshare -m; only cgroup2 at /sys/fs/cgroup)",
}
order = ["nslab", "runc", "crun"]
manifest = {}
with open(os.path.join(work, "manifest.tsv")) as f:
    for line in f:
        setting, runtime, status, note, rss = line.rstrip("\n").split("\t")
        manifest[(setting, runtime)] = (status, note, rss)

def results(setting, kind):
    path = os.path.join(work, f"{setting}-{kind}.json")
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return {r["command"]: r for r in json.load(f)["results"]}

def ms(seconds):
    return f"{seconds * 1000:.1f} ms"

print("# nslab, runc and crun: starting /bin/true")
print()
print(f"{versions}; kernel {kernel}, {cpus} CPUs; hyperfine -N, 3 warm-up runs, {runs} runs.")
print("`run`: `RUNTIME run ID`. Cycle: create, start, `state` until stopped, delete")
print(f"(a bash helper: its start-up is in every number). Peak RSS: one `run`, {rss_how}.")
for setting in ["host", "cgroup2"]:
    run, cycle = results(setting, "run"), results(setting, "cycle")
    print()
    print(f"## {titles[setting]}")
    print()
    print("| runtime | `run` median | `run` mean ± σ | cycle median | cycle mean ± σ | peak RSS |")
    print("|---|---:|---:|---:|---:|---:|")
    for runtime in order:
        if (setting, runtime) not in manifest:
            continue
        status, note, rss = manifest[(setting, runtime)]
        if status != "ok":
            print(f"| {runtime} | skipped: {note} | | | | |")
            continue
        cells = []
        for table in (run, cycle):
            r = table.get(runtime)
            if r is None:
                cells += ["–", "–"]
            else:
                cells += [ms(r["median"]), f"{r['mean'] * 1000:.1f} ± {r['stddev'] * 1000:.1f} ms"]
        if rss.startswith("<="):
            peak = f"≤ {int(rss[2:]) / 1024:.1f} MiB"
        else:
            peak = f"{int(rss) / 1024:.1f} MiB" if rss else "–"
        print(f"| {runtime} | " + " | ".join(cells) + f" | {peak} |")
    print()
    lines = []
    for other in ["crun", "runc"]:
        parts = []
        for name, table in (("run", run), ("cycle", cycle)):
            if "nslab" in table and other in table:
                parts.append(f"{name} {table['nslab']['median'] / table[other]['median']:.2f}×")
        if parts:
            lines.append(f"nslab's median ÷ {other}'s: " + ", ".join(parts))
        elif (setting, other) in manifest:
            lines.append(f"nslab's median ÷ {other}'s: n/a ({other} or nslab did not run here)")
    for line in lines:
        print(f"- {line}")
print()
print("## Adjustments to config.json, per runtime")
print()
with open(os.path.join(work, "adjustments.txt")) as f:
    for line in f:
        print(f"- {line.strip()}")
EOF
echo
cat target/bench-runtime.md

if $profile; then
    if ! command -v strace >/dev/null; then
        echo "== profile: strace is not installed (apt-get install -y strace): skipped"
        exit 0
    fi
    for setting in "${settings[@]}"; do
        [[ -n ${ok[$setting/nslab]:-} ]] || continue
        echo
        echo "== profile: one nslab run under strace, $setting"
        trace=$work/profile-$setting.strace
        run_in "$setting" strace -f --seccomp-bpf -ttt -T -o "$trace" \
            -e trace=clone,clone3,execve,mount,pivot_root,umount2,openat,write,wait4,mkdir,rmdir,bpf,exit_group \
            "$work/nslab" --root "$work/root/$setting/nslab" --log "$work/profile-$setting.log" --debug \
            run --bundle "${bundle_for[$setting/nslab]}" "$prefix-profile" </dev/null >/dev/null
        echo "   the narration: $(grep -c '^→' "$work/profile-$setting.log") steps (no timestamps); the timeline from strace"
        echo "   (each traced call stops for strace, some 50 to 100 µs: spans are longer than in the table above;"
        echo "   the time inside calls, from -T, is the kernel's own):"
        python3 - "$trace" <<'EOF'
import re, sys

# strace -f -ttt -T lines: PID TIME CALL = RESULT <DURATION>; a call
# another process interrupts is split in "<unfinished ...>" and "resumed".
events = []  # [pid, start, end, text]
pending = {}
line_re = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
for line in open(sys.argv[1]):
    m = line_re.match(line.rstrip("\n"))
    if not m:
        continue
    pid, ts, text = int(m.group(1)), float(m.group(2)), m.group(3)
    if text.endswith("<unfinished ...>"):
        pending[pid] = (ts, text[: -len("<unfinished ...>")].rstrip())
        continue
    d = re.search(r"<(\d+\.\d+)>$", text)
    dur = float(d.group(1)) if d else 0.0
    start = ts
    if text.startswith("<...") and pid in pending:
        start, head = pending.pop(pid)
        text = head + " " + re.sub(r"^<\.\.\. \w+ resumed>\s*", "", text)
    events.append((pid, start, max(ts, start + dur), text))
events.sort(key=lambda e: e[1])
runtime, t0 = events[0][0], events[0][1]

def first(pred):
    return next((e for e in events if pred(e)), None)

clone = first(lambda e: e[0] == runtime and re.match(r"clone3?\(", e[3]) and "CLONE_NEW" in e[3])
child = int(re.search(r"= (\d+)", clone[3]).group(1)) if clone else None
gate = first(lambda e: e[0] == runtime and re.match(r'write\(\d+, "1", 1\)', e[3]))
pivot = first(lambda e: e[0] == child and e[3].startswith("pivot_root"))
exe = first(lambda e: e[0] == child and e[3].startswith("execve("))
exited = first(lambda e: e[0] == child and e[3].startswith("+++ exited"))
end = [e for e in events if e[0] == runtime][-1]

# The runtime's calls on cgroupfs: mkdir, rmdir, openat, and the writes to
# the descriptors those openat calls returned.
fds, cgroup = {}, []
for e in events:
    if e[0] != runtime:
        continue
    m = re.match(r'(openat|mkdir|rmdir|bpf)\((?:AT_FDCWD, )?"?([^",]*)', e[3])
    if m and "/sys/fs/cgroup" in e[3]:
        cgroup.append(e)
        r = re.search(r"= (\d+)", e[3])
        if m.group(1) == "openat" and r:
            fds[r.group(1)] = m.group(2)
        continue
    m = re.match(r"(write|close)\((\d+)", e[3])
    if m and m.group(2) in fds:
        if m.group(1) == "write":
            cgroup.append((e[0], e[1], e[2], f"{e[3]} to {fds[m.group(2)]}"))
        else:
            del fds[m.group(2)]
setup = [e for e in cgroup if gate and e[1] < gate[1]]
teardown = [e for e in cgroup if exited and e[1] > exited[1]]
mounts = [e for e in events if e[0] == child and re.match(r"(mount|umount2|pivot_root)\(", e[3])]

def at(e):
    return f"{(e[1] - t0) * 1000:7.2f} ms"

def span(a, b):
    return f"{(b[1] - a[1]) * 1000:.2f} ms" if a and b else "?"

def busy(calls):
    return sum(e[2] - e[1] for e in calls) * 1000

for name, e in [
    ("nslab starts (execve)", events[0]),
    ("clone of the container's init", clone),
    ("first cgroup call", setup[0] if setup else None),
    ("last cgroup call before the gate", setup[-1] if setup else None),
    ("gate opened: the child may go on", gate),
    ("the child's pivot_root", pivot),
    ("the child's execve(/bin/true)", exe),
    ("/bin/true has exited", exited),
    ("nslab exits (cgroups removed)", end),
]:
    if e:
        print(f"   {at(e)}  {name}")
print(f"   start to clone {span(events[0], clone)}; clone to the child's pivot_root {span(clone, pivot)};"
      f" pivot_root to execve {span(pivot, exe)}; execve to exit {span(exe, exited)};"
      f" exit to nslab's end {span(exited, end)}")
if setup:
    slow = max(setup, key=lambda e: e[2] - e[1])
    slow_call = re.sub(r" <[0-9.]+>", "", slow[3])
    print(f"   cgroup set-up: {len(setup)} calls, {span(setup[0], setup[-1])} from first to last,"
          f" {busy(setup):.2f} ms inside them; the slowest, {(slow[2] - slow[1]) * 1000:.2f} ms: {slow_call}")
if teardown:
    print(f"   cgroup teardown: {len(teardown)} calls, {busy(teardown):.2f} ms inside them")
if mounts:
    print(f"   the child's {len(mounts)} mount, umount2 and pivot_root calls: {busy(mounts):.2f} ms inside them")
EOF
    done
fi
