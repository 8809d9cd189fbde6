//! Lesson 08: cgroups, checked from outside.
//!
//! On this machine's cgroup v1 hierarchies (the CI machine is hybrid),
//! each limit is written and takes effect: an OOM kill counted by the
//! cgroup, a fork bomb held, a CPU share measured. The cgroup namespace is
//! shown from inside, with and without. The v2 implementation is tested
//! on the real unified hierarchy for what it offers here (cgroup.procs,
//! cgroup.events, cgroup.kill); its limits, in src/cgroup/group.rs, on a
//! directory laid out like cgroup2. Every run is in a network namespace
//! of the test's own, and leaves no nslab cgroup (the leak check makes
//! sure of that after the suite).

mod common;

use insta_cmd::assert_cmd_snapshot;
use nslab::cgroup::group::{Cgroup, Hierarchy};
use nslab::cgroup::limits::Limits;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_08-cgroups");

fn run_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("run-08-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Lesson 08 with `args`, in a new network namespace.
fn lesson(name: &str, args: &[&str]) -> (i32, String, String) {
    let run = run_dir(name);
    let mut cmd = common::lesson("unshare");
    cmd.args(["--net", "--", BIN])
        .args(args)
        .env("NSLAB_RUN_DIR", &run);
    common::run(&mut cmd)
}

/// The number after `label` on the report line that has it.
fn counter(out: &str, label: &str) -> f64 {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("host: {label}:")))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {label} in\n{out}"))
}

/// The demo snapshot and the SIGKILL test take turns: what a killed run
/// leaves (its cgroup) is visible to every lesson, whose start would
/// report it.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn settings() -> insta::Settings {
    let run = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("run-08-demo");
    let mut settings = common::container_settings(&run);
    settings.add_filter(
        r"(?m)^(  host: (?:peak memory|CPU time):\s+)[\d.]+",
        "$1[N]",
    );
    settings.add_filter(r"time=[0-9.]+ ms", "time=[T] ms");
    settings
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn demo_narration_and_output() {
    require_root!();
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::rootfs();
    let run = run_dir("demo");
    let mut cmd = common::lesson("unshare");
    cmd.args(["--net", "--", BIN]).env("NSLAB_RUN_DIR", &run);
    settings().bind(|| assert_cmd_snapshot!(common::timed(&mut cmd)));
}

#[test]
fn help() {
    settings().bind(|| assert_cmd_snapshot!(common::timed(common::lesson(BIN).arg("--help"))));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_oom_killer_ends_it_and_the_cgroup_counts_it() {
    require_root!();
    common::rootfs();
    let (code, out, err) = lesson("oom", &["--memory", "32M", "--demo", "oom"]);
    assert_eq!(code, 137, "killed by SIGKILL: {out}{err}");
    assert_eq!(counter(&out, "OOM kills"), 1.0, "{out}");
    assert!(counter(&out, "peak memory") <= 32.0, "{out}");
    assert!(out.contains("the kernel's OOM killer ended it"), "{out}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_fork_bomb_is_held_at_the_pids_limit() {
    require_root!();
    common::rootfs();
    let (code, out, err) = lesson("forkbomb", &["--pids-limit", "20", "--demo", "forkbomb"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(counter(&out, "forks refused") >= 1.0, "{out}");
    assert!(out.contains("inside: still answering"), "{out}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn half_a_cpu_is_half_a_cpu() {
    require_root!();
    common::rootfs();
    let (code, out, err) = lesson("cpu", &["--cpus", "0.5", "--demo", "cpu"]);
    assert_eq!(code, 0, "{out}{err}");
    // 3 s of burning under a quota of 50 ms per 100 ms: about 1.5 s.
    let cpu = counter(&out, "CPU time");
    // Above the quota would be a failure; below it, a busy machine.
    assert!((0.5..=2.0).contains(&cpu), "{cpu} s of CPU in 3 s:\n{out}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_cgroup_namespace_hides_the_hosts_path() {
    require_root!();
    common::rootfs();
    let (code, out, err) = lesson("ns", &["-q", "--memory", "64M"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("  4:memory:/\n") || out.contains(":memory:/\n"),
        "{out}"
    );
    let (code, out, err) = lesson("nons", &["-q", "--memory", "64M", "--no-cgroupns"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(":memory:/nslab/"),
        "without it, the host's path: {out}"
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn bad_limits_are_refused_before_anything_is_made() {
    require_root!();
    for (args, message) in [
        (&["--memory", "12XB"][..], "one of b, k, m, g"),
        (&["--cpus", "0"][..], "positive"),
        (&["--cpus=-1"][..], "positive"),
        (&["--pids-limit", "0"][..], "positive"),
        (
            &["--io-weight", "5000"][..],
            "--io-weight 5000 cannot be set here",
        ),
    ] {
        let (code, out, err) = lesson("bad", args);
        assert_ne!(code, 0, "{args:?}: {out}{err}");
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!out.contains("clone("), "{args:?} started a child: {out}");
    }
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn v2_on_the_real_unified_hierarchy_places_kills_and_removes() {
    require_root!();
    let unified = Path::new("/sys/fs/cgroup/unified");
    let root = if unified.join("cgroup.procs").exists() {
        unified
    } else {
        Path::new("/sys/fs/cgroup")
    };
    assert!(
        root.join("cgroup.controllers").exists(),
        "no cgroup2 hierarchy on this machine"
    );
    let hierarchy = Hierarchy::V2(root.to_path_buf());
    let id = format!("test-{}", std::process::id());
    let mut cgroup = Cgroup::create(&hierarchy, &id, &Limits::default()).unwrap();
    let dir = root.join("nslab").join(&id);
    assert!(dir.is_dir());
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = nix::unistd::Pid::from_raw(sleeper.id() as i32);
    cgroup.add(pid).unwrap();
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");
    let events = std::fs::read_to_string(dir.join("cgroup.events")).unwrap();
    assert!(events.contains("populated 1"), "{events}");
    let has_kill = dir.join("cgroup.kill").exists();
    cgroup.destroy();
    let status = sleeper.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(9),
        "killed by cgroup.kill ({has_kill}) or SIGKILL"
    );
    assert!(!dir.exists(), "the cgroup was not removed");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_killed_lessons_cgroup_is_removed_by_nslab_cleanup() {
    require_root!();
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::rootfs();
    let run = run_dir("sigkill");
    // The lesson's pid names its cgroup; SIGKILL leaves it behind (its
    // container dies with it, so the cgroup is empty).
    let script = r#"
        "$L" -q --net none --memory 64M -- sleep 30 &
        lesson=$!
        for i in $(seq 100); do [ -d /sys/fs/cgroup/memory/nslab/$lesson ] || [ -d /sys/fs/cgroup/nslab/$lesson ] && break; sleep 0.1; done
        kill -KILL $lesson; wait $lesson
        sleep 0.5
        left() { ls -d /sys/fs/cgroup/*/nslab/$lesson /sys/fs/cgroup/nslab/$lesson 2>/dev/null | wc -l; }
        echo left: $(left)
        "$NSLAB" cleanup --dry-run --run-dir "$RUN" | grep -c "cgroup of a killed lesson"
        echo dry: $(left)
        "$NSLAB" cleanup --run-dir "$RUN" > /dev/null
        echo after: $(left)
    "#;
    let mut cmd = common::lesson("unshare");
    cmd.args(["--net", "--", "sh", "-c", script])
        .env("L", BIN)
        .env("NSLAB", env!("CARGO_BIN_EXE_nslab"))
        .env("RUN", &run)
        .env("NSLAB_RUN_DIR", &run);
    let (code, out, err) = common::run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    let value = |label: &str| -> u32 {
        out.lines()
            .find_map(|l| l.strip_prefix(label))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {label} in {out}{err}"))
    };
    assert!(value("left:") >= 1, "SIGKILL left no cgroup: {out}");
    assert_eq!(
        value("dry:"),
        value("left:"),
        "--dry-run removed something: {out}"
    );
    assert_eq!(value("after:"), 0, "{out}{err}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn an_io_weight_is_written_where_v1_keeps_it() {
    require_root!();
    common::rootfs();
    let (code, out, err) = lesson("io", &["--io-weight", "100", "--net", "none", "--", "true"]);
    assert_eq!(code, 0, "{out}{err}");
    // BFQ's file since Linux 5.0 (CFQ's blkio.weight before).
    assert!(
        out.contains("/blkio.bfq.weight <- \"100\"") || out.contains("/blkio.weight <- \"100\""),
        "{out}"
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn cpu_shares_divide_a_busy_cpu() {
    require_root!();
    common::rootfs();
    let run = run_dir("shares");
    // Both on CPU 0 (taskset; the containers inherit the affinity), both
    // burning for 3 s with a whole CPU allowed (--cpus 1, or the demo would
    // cap each at 0.5): the one CPU is divided 512 : 1536, about 1 : 3.
    let script = r#"
        taskset -c 0 "$L" --net none --cpus 1 --cpu-shares 512 --demo cpu > "$RUN/low" 2>&1 &
        taskset -c 0 "$L" --net none --cpus 1 --cpu-shares 1536 --demo cpu > "$RUN/high" 2>&1 &
        wait
        grep -h "cpu.shares <-" "$RUN/low" "$RUN/high"
        echo low: $(sed -n 's/.*host: CPU time: *\([0-9.]*\) s.*/\1/p' "$RUN/low")
        echo high: $(sed -n 's/.*host: CPU time: *\([0-9.]*\) s.*/\1/p' "$RUN/high")
    "#;
    let mut cmd = common::lesson("unshare");
    cmd.args(["--net", "--", "sh", "-c", script])
        .env("L", BIN)
        .env("RUN", &run)
        .env("NSLAB_RUN_DIR", &run);
    let (code, out, err) = common::run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(r#"cpu.shares <- "512""#), "{out}");
    let value = |label: &str| -> f64 {
        out.lines()
            .find_map(|l| l.strip_prefix(label))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {label} in {out}"))
    };
    let (low, high) = (value("low:"), value("high:"));
    let ratio = high / low;
    assert!(
        (2.0..=4.5).contains(&ratio),
        "{high} s against {low} s: ratio {ratio}\n{out}"
    );
}
