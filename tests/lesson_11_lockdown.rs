//! Lesson 11: the lockdown, checked from the kernel's answers. The escape
//! corpus is open in lesson 10's container and closed in lesson 11's; each
//! layer is then checked alone, with the others opened (`--cap-add ALL`,
//! `--seccomp unconfined`), so that a layer whose call is removed fails
//! its own test; the capability sets and the filter are read back from
//! `/proc/self/status`; a busybox shell, `ps`, `mount` and the network
//! tools still work under the filter; bad flags make nothing.

mod common;

use insta_cmd::assert_cmd_snapshot;
use std::path::PathBuf;

const BIN: &str = env!("CARGO_BIN_EXE_11-lockdown");

fn run_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("run-11-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the lesson in a throwaway network namespace of its own.
fn lesson(name: &str, args: &[&str]) -> (i32, String, String) {
    let run = run_dir(name);
    let mut cmd = common::lesson("unshare");
    cmd.args(["--net", "--", BIN])
        .args(args)
        .env("NSLAB_RUN_DIR", &run);
    common::run(&mut cmd)
}

/// A command in the container, quietly, with `flags` before it.
fn inside(name: &str, flags: &[&str], script: &str) -> (i32, String, String) {
    let mut args = vec!["-q", "--net", "none"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    lesson(name, &args)
}

/// The demo snapshot and the tests that look at what is left take turns
/// with the others: a run in progress is not a leftover, but its layer
/// and cgroup exist while it runs.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What the corpus printed for each attempt in one run: `(what, open, text)`.
fn attempts(section: &str) -> Vec<(String, bool, String)> {
    section
        .lines()
        .filter_map(|line| line.strip_prefix("inside: "))
        .filter(|line| !line.starts_with("CapEff"))
        .filter_map(|line| {
            let (what, rest) = line.split_once("  ")?;
            let rest = rest.trim_start();
            let (open, text) = if let Some(text) = rest.strip_prefix("open:") {
                (true, text)
            } else {
                (false, rest.strip_prefix("closed:")?)
            };
            Some((what.trim().to_string(), open, text.trim().to_string()))
        })
        .collect()
}

fn host_reads_its_disk() -> bool {
    nslab::lockdown::escapes::host_reads_its_disk(&common::state_dir()).is_ok()
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn every_escape_is_open_unlocked_and_closed_locked() {
    require_root!();
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::rootfs();
    let (code, out, err) = lesson("corpus", &["--net", "none"]);
    assert_eq!(code, 0, "{out}{err}");
    let (before, after) = out
        .split_once("== lesson 11's container")
        .expect("two runs");
    let before = attempts(before);
    let after = attempts(after);
    assert_eq!(before.len(), 9, "{out}");
    assert_eq!(after.len(), 9, "{out}");
    let disk = host_reads_its_disk();
    for (what, open, text) in &before {
        if what.contains("disk") && !disk {
            continue; // this machine: even the host may not open its disk
        }
        assert!(
            open,
            "{what} is closed in lesson 10's container: {text}\n{out}"
        );
    }
    for (what, open, text) in &after {
        assert!(
            !open,
            "{what} is open in lesson 11's container: {text}\n{out}"
        );
    }
    // What refused, as the kernel answered.
    let refused = |what: &str| {
        after
            .iter()
            .find(|(w, _, _)| w.contains(what))
            .map(|(_, _, text)| text.clone())
            .unwrap_or_default()
    };
    assert!(refused("kernel log").ends_with("open: EPERM"), "{out}");
    assert_eq!(refused("core_pattern"), "write: EROFS");
    assert_eq!(refused("remount /sys"), "mount: EPERM");
    assert_eq!(refused("open_by_handle_at"), "open_by_handle_at: EPERM");
    assert!(refused("memory or timers").contains("reads empty"), "{out}");
    assert_eq!(refused("user namespace"), "unshare(CLONE_NEWUSER): EPERM");
    assert_eq!(refused("module"), "init_module: EPERM");
    assert!(refused("setuid").contains("euid 65534"), "{out}");
    // The table says the same.
    assert!(out.contains("\nattempt "), "{out}");
    assert!(out.contains("00000000a80425fb"), "docker's CapEff: {out}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn unlocked_opens_every_door() {
    require_root!();
    common::rootfs();
    let (code, out, err) = lesson("unlocked", &["--net", "none", "--unlocked"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("lesson 11's container"), "{out}");
    let found = attempts(&out);
    assert_eq!(found.len(), 9, "{out}");
    let disk = host_reads_its_disk();
    for (what, open, text) in found {
        assert!(open || (what.contains("disk") && !disk), "{what}: {text}");
    }
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_sets_and_the_filter_read_back_from_proc_status() {
    require_root!();
    common::rootfs();
    let script = "grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status";
    let (code, out, err) = inside("status", &[], script);
    assert_eq!(code, 0, "{out}{err}");
    let field = |out: &str, name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    // docker's fourteen, in every set but inheritable and ambient.
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(field(&out, set), "00000000a80425fb", "{set}: {out}");
    }
    assert_eq!(field(&out, "CapInh"), "0000000000000000", "{out}");
    assert_eq!(field(&out, "CapAmb"), "0000000000000000", "{out}");
    assert_eq!(field(&out, "NoNewPrivs"), "1", "{out}");
    assert_eq!(field(&out, "Seccomp"), "2", "filter mode: {out}");
    assert_eq!(field(&out, "Seccomp_filters"), "2", "{out}");

    // Added and dropped by name: net_admin (12) in, chown (0) out.
    let (code, out, err) = inside(
        "status-flags",
        &["--cap-add", "NET_ADMIN", "--cap-drop", "cap_chown"],
        script,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(field(&out, "CapEff"), "00000000a80435fa", "{out}");
    assert_eq!(field(&out, "CapBnd"), "00000000a80435fa", "{out}");

    // Unlocked: the host root's sets, no flag, no filter.
    let (code, out, err) = inside("status-unlocked", &["--unlocked"], script);
    assert_eq!(code, 0, "{out}{err}");
    assert_ne!(field(&out, "CapBnd"), "00000000a80425fb", "{out}");
    assert_eq!(field(&out, "NoNewPrivs"), "0", "{out}");
    assert_eq!(field(&out, "Seccomp"), "0", "{out}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_shell_ps_mount_and_the_network_work_under_the_filter() {
    require_root!();
    common::rootfs();
    let script = "ps -o pid,comm; mount | grep -c ' / '; cat /proc/mounts > /dev/null; \
                  ip -4 addr show eth0 | grep -o 'inet [0-9.]*'; \
                  ping -c 1 -W 2 10.213.0.1 | grep -c 'bytes from'; echo end";
    let (code, out, err) = lesson("tools", &["-q", "--", "sh", "-c", script]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 sh"), "ps: {out}");
    assert!(out.contains("inet 10.213.0."), "ip: {out}");
    assert!(out.trim_end().ends_with("1\nend"), "ping: {out}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn seccomp_alone_refuses_mount_and_a_user_namespace() {
    require_root!();
    common::rootfs();
    let script = "mount -t tmpfs t /mnt && echo mounted; \
                  /usr/local/bin/nslab-escapes | grep 'user namespace'";
    // Every capability kept: only the filter stands in the way.
    let (_, out, err) = inside("seccomp", &["--cap-add", "ALL"], script);
    assert!(!out.contains("mounted"), "{out}{err}");
    // busybox's words for EPERM from mount(2).
    assert!(err.contains("permission denied"), "{out}{err}");
    assert!(
        out.contains("closed: unshare(CLONE_NEWUSER): EPERM"),
        "{out}"
    );
    // The corpus's other calls seccomp refuses, with every capability.
    let (_, out, err) = inside(
        "seccomp-corpus",
        &["--cap-add", "ALL"],
        "/usr/local/bin/nslab-escapes",
    );
    for refused in [
        "closed: mount: EPERM",
        "closed: open_by_handle_at: EPERM",
        "closed: init_module: EPERM",
    ] {
        assert!(out.contains(refused), "{refused}: {out}{err}");
    }
    let (_, out, err) = inside(
        "seccomp-unconfined",
        &["--cap-add", "ALL", "--seccomp", "unconfined"],
        script,
    );
    assert!(out.contains("mounted"), "{out}{err}");
    assert!(out.contains("open:"), "{out}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn capabilities_alone_close_sys_handles_and_modules() {
    require_root!();
    common::rootfs();
    // No filter, default capabilities: CAP_SYS_ADMIN, CAP_SYS_MODULE
    // and CAP_DAC_READ_SEARCH are gone.
    let (code, out, err) = inside(
        "caps",
        &["--seccomp", "unconfined"],
        "/usr/local/bin/nslab-escapes",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("closed: open_by_handle_at: EPERM"), "{out}");
    assert!(out.contains("closed: mount: EPERM"), "/sys: {out}");
    // init_module: EPERM for want of CAP_SYS_MODULE, before the kernel
    // looks for module support (ENOSYS) or at the image.
    // (A kernel without modules answers ENOSYS before any check: the
    // corpus then reads CapEff.)
    let no_modules = !std::path::Path::new("/proc/modules").exists();
    assert!(
        out.contains("closed: init_module: EPERM")
            || (no_modules && out.contains("closed: CAP_SYS_MODULE gone")),
        "{out}"
    );
    // A user namespace needs no capability: only seccomp closes it.
    assert!(out.contains("open:   made one"), "{out}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn no_new_privs_alone_stops_the_setuid_gain() {
    require_root!();
    common::rootfs();
    let flags = ["--cap-add", "ALL", "--seccomp", "unconfined"];
    let (code, out, err) = inside("nnp", &flags, "/usr/local/bin/nslab-escapes");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("runs as euid 65534: no gain"), "{out}");
    let (code, out, err) = inside(
        "nnp-unlocked",
        &["--unlocked"],
        "/usr/local/bin/nslab-escapes",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("runs as euid 0: root"), "{out}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn masked_paths_alone_hide_and_freeze() {
    require_root!();
    common::rootfs();
    let script = "wc -c < /proc/timer_list; ls /sys/firmware | wc -l; \
                  cat /proc/sys/kernel/core_pattern > /proc/sys/kernel/core_pattern && echo written";
    let flags = ["--cap-add", "ALL", "--seccomp", "unconfined"];
    let (_, out, err) = inside("paths", &flags, script);
    let counts: Vec<&str> = out.lines().take(2).collect();
    assert_eq!(counts, ["0", "0"], "{out}{err}");
    assert!(!out.contains("written"), "{out}");
    assert!(err.contains("Read-only file system"), "{err}");
    let (_, out, err) = inside("paths-unlocked", &["--unlocked"], script);
    assert_ne!(out.lines().next(), Some("0"), "{out}{err}");
    assert!(out.contains("written"), "{out}{err}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_device_cgroup_alone_refuses_a_node_made_with_cap_mknod() {
    require_root!();
    common::rootfs();
    // Every capability and no filter: mknod works, and opening the node
    // is refused by the device cgroup alone.
    let script =
        "mknod /dev/kmsg-again c 1 11 && echo made; exec 3< /dev/kmsg-again && echo opened";
    let flags = ["--cap-add", "ALL", "--seccomp", "unconfined"];
    let (_, out, err) = inside("devices", &flags, script);
    assert!(out.contains("made"), "{out}{err}");
    assert!(!out.contains("opened"), "{out}{err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    let (_, out, err) = inside("devices-unlocked", &["--unlocked"], script);
    assert!(out.contains("opened"), "{out}{err}");
}

#[test]
fn bad_capability_names_are_refused_before_anything_exists() {
    for (flag, name) in [
        ("--cap-add", "net_admn"),
        ("--cap-drop", "CAP_NOPE"),
        ("--cap-add", ""),
    ] {
        let (code, out, err) = common::run(common::lesson(BIN).args([flag, name, "--", "true"]));
        // Refused by the command line's parser, before the root check.
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.contains(&format!(
                "invalid value '{name}' for '{flag} <CAP>': no such capability"
            )),
            "{err}"
        );
        assert!(err.contains("net_admin"), "the hint lists the names: {err}");
        assert!(!out.contains("clone("), "nothing was started: {out}");
    }
}

#[test]
fn bad_seccomp_profiles_are_refused() {
    let (code, _, err) = common::run(common::lesson(BIN).args(["--seccomp", "strict"]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("[possible values: default, unconfined]"),
        "{err}"
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_state_directory_overlayfs_cannot_hold_is_refused_before_it_is_made() {
    require_root!();
    let state = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("state:11");
    let _ = std::fs::remove_dir_all(&state);
    let (code, out, err) = common::run(
        common::lesson(BIN)
            .args(["--net", "none", "--state-dir"])
            .arg(&state),
    );
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("has a ':' or ','"), "{err}");
    assert!(!state.exists(), "{} was made", state.display());
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_demo_refuses_the_hosts_network() {
    require_root!();
    let (code, out, err) = lesson("host-net", &["--net", "host"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("that is the host's sysfs"), "{err}");
    assert!(!out.contains("clone("), "{out}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_killed_lesson_leaves_no_container_and_cleanup_removes_the_rest() {
    require_root!();
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::rootfs();
    let run = run_dir("sigkill");
    // The container's pid is read from the device cgroup, whose rules
    // were written while it waited at the gate.
    let script = r#"
        "$L" -q --net none -- sleep 30 &
        lesson=$!
        procs=/sys/fs/cgroup/devices/nslab/$lesson/cgroup.procs
        for i in $(seq 100); do grep -q . $procs 2>/dev/null && break; sleep 0.1; done
        container=$(head -n 1 $procs)
        echo rules: $(grep -c rwm /sys/fs/cgroup/devices/nslab/$lesson/devices.list)
        kill -KILL $lesson; wait $lesson
        sleep 0.5
        # Dead: no such process, or a zombie its new parent has not reaped.
        state=$(sed -n 's/^State:\t\(.\).*/\1/p' /proc/$container/status 2>/dev/null)
        case "$state" in ""|Z) echo container: gone ;; *) echo container: alive $state ;; esac
        left() { (ls -d /sys/fs/cgroup/*/nslab/$lesson; ls -d "$NSLAB_STATE_DIR"/.nslab-overlay-$lesson) 2>/dev/null | wc -l; }
        echo left: $(left)
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
    let value = |label: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(label))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {label} in {out}{err}"))
    };
    // docker's rwm rules: the standard nodes, pts and tun.
    assert_eq!(value("rules:"), "10", "{out}");
    assert_eq!(value("container:"), "gone", "{out}");
    assert!(value("left:").parse::<u32>().unwrap() >= 2, "{out}");
    assert_eq!(value("after:"), "0", "{out}{err}");
}

fn settings() -> insta::Settings {
    let run = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("run-11-demo");
    let mut settings = common::container_settings(&run);
    settings.add_filter(
        r"layer-escapes-[0-9a-f]+-[0-9a-f]+",
        "layer-escapes-[BUILD]",
    );
    // The corpus's layer is built once per build of the lesson.
    settings.add_filter(
        r"(?m)^(?:→ remove \[STATE\]/layer-escapes-\[BUILD\]   # no mount below, staying on its file system\n)?  making the escape corpus's layer .*\n→ .* --list .*\n",
        "",
    );
    settings.add_filter(r"\(\d+ entries\)", "([N] entries)");
    settings.add_filter(r"read \d+ bytes of", "read [N] bytes of");
    settings
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn demo_narration_and_table() {
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
