//! Lesson 06: network namespaces, checked from outside.
//!
//! Every run here happens inside a network namespace the test makes
//! (`unshare --net`), so the bridge and the veth pairs live there and the
//! machine's own network is never touched; traffic flows only between that
//! namespace and the containers in it. Each test has a run directory of its
//! own under cargo's temporary directory, so the leases and records of one
//! test never meet another's.

mod common;

use insta_cmd::assert_cmd_snapshot;
use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_06-net");
const NSLAB: &str = env!("CARGO_BIN_EXE_nslab");

/// A fresh run directory for test `name`.
fn run_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("run-06-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `sh -c script` in a new network namespace, with `$L` the lesson,
/// `$NSLAB` the runtime binary and `$RUN` the run directory, which the
/// lesson also gets as NSLAB_RUN_DIR.
fn in_netns(run: &std::path::Path, script: &str) -> Command {
    let mut cmd = common::lesson("unshare");
    cmd.args(["--net", "--", "sh", "-c", script])
        .env("L", BIN)
        .env("NSLAB", NSLAB)
        .env("RUN", run)
        .env("NSLAB_RUN_DIR", run);
    cmd
}

/// The interface names of the namespace the script runs in, one line,
/// from /proc/net/dev (per network namespace; /sys/class/net shows the
/// namespace of whoever mounted /sys instead).
const LINKS: &str = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '";

/// What is left in the run directory: lease and record files.
fn leftovers_in(run: &std::path::Path) -> Vec<String> {
    // `net` itself: its lock and lease directory go with the last lease.
    ["net", "net/leases", "containers"]
        .iter()
        .flat_map(|sub| {
            std::fs::read_dir(run.join(sub))
                .into_iter()
                .flatten()
                .flatten()
        })
        .map(|e| e.path().display().to_string())
        .filter(|p| !p.ends_with(".lock"))
        .collect()
}

fn settings() -> insta::Settings {
    let mut settings = common::settings();
    settings.add_filter(r"time=[0-9.]+ ms", "time=[T] ms");
    // Unplugging: the kernel removes a dead namespace's veth pair in the
    // background, so the host's end is found and deleted, found and gone
    // before the delete (ENODEV), or gone already. All three are right.
    settings.add_filter(
        r"(?m)^→ ip link show nslab2h   # RTM_GETLINK\n(?:  nslab2h is link \d+\n→ ip link del nslab2h   # RTM_DELLINK\n|  no link called nslab2h\n)(?:  nslab2h went with the container's namespace: a veth pair dies with either end\n)?",
        "[THE HOST'S END nslab2h: DELETED, OR GONE WITH THE CONTAINER'S NAMESPACE]\n",
    );
    settings.add_filter(r"(?m)^  / \(\S+\)$", "  / ([ROOTFS FS TYPE])");
    settings.add_filter(&regex::escape(&run_dir_path("demo")), "[RUN]");
    let relative = format!(
        "./{}",
        run_dir_path("demo")
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or("")
            .trim_start_matches('/')
    );
    settings.add_filter(&regex::escape(&relative), "[RUN]");
    settings.add_filter(r"netns \d+", "netns [PID]");
    settings
}

fn run_dir_path(name: &str) -> String {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("run-06-{name}"))
        .display()
        .to_string()
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn demo_narration_and_output() {
    require_root!();
    // In a network namespace of the test's own: the "host" the lesson
    // reports is that namespace, so its net namespace reads [NEW] too.
    common::rootfs();
    let run = run_dir("demo");
    let mut cmd = common::lesson("unshare");
    cmd.args(["--net", "--", BIN]).env("NSLAB_RUN_DIR", &run);
    settings().bind(|| assert_cmd_snapshot!(common::timed(&mut cmd)));
    assert!(leftovers_in(&run).is_empty(), "{:?}", leftovers_in(&run));
}

#[test]
fn help() {
    settings().bind(|| assert_cmd_snapshot!(common::timed(common::lesson(BIN).arg("--help"))));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn none_has_only_loopback_and_it_is_up() {
    require_root!();
    common::rootfs();
    let run = run_dir("none");
    let script = format!("\"$L\" -q --net none -- sh -c \"{LINKS}; echo; ip link show lo\"");
    let (code, out, err) = common::run(&mut in_netns(&run, &script));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("lo \n"), "more than lo: {out}");
    assert!(out.contains(",UP,"), "lo is not up: {out}");
    assert!(leftovers_in(&run).is_empty());
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn host_shares_the_outer_namespace_and_its_devices() {
    require_root!();
    common::rootfs();
    let run = run_dir("host");
    // A device only the outer namespace has, to recognise it from inside.
    let script = format!(
        "ip link add nslabt0 type veth peer name nslabt1 || exit 9; \
         echo outer: $(readlink /proc/self/ns/net) $({LINKS}); \
         \"$L\" -q --net host -- sh -c \"echo inner: \\$(readlink /proc/self/ns/net) \\$({LINKS})\""
    );
    let (code, out, err) = common::run(&mut in_netns(&run, &script));
    assert_eq!(code, 0, "{out}{err}");
    let outer = out.lines().find_map(|l| l.strip_prefix("outer: ")).unwrap();
    let inner = out.lines().find_map(|l| l.strip_prefix("inner: ")).unwrap();
    assert_eq!(inner.trim(), outer.trim(), "{out}");
    assert!(outer.contains("nslabt0"), "{out}");
    assert_ne!(
        outer.split_whitespace().next().unwrap(),
        common::host_namespace("net"),
        "the test must not run on the host's own network"
    );
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn two_bridge_containers_reach_each_other_and_the_bridge() {
    require_root!();
    common::rootfs();
    let run = run_dir("bridge");
    // The first takes 10.213.0.2 and waits; the second (10.213.0.3) pings
    // it, then the bridge, retrying while the first comes up.
    let script = r#"
        "$L" -q --name first -- sh -c 'ip -4 addr show eth0 | grep -o "inet [0-9./]*"; sleep 4' &
        first=$!
        "$L" -q -- sh -c '
            ip -4 addr show eth0 | grep -o "inet [0-9./]*"
            for i in 1 2 3 4 5 6; do ping -c 1 -W 1 10.213.0.2 >/dev/null && echo reached-first && break; sleep 0.3; done
            ping -c 1 -W 1 10.213.0.1 >/dev/null && echo reached-bridge'
        wait $first
        echo left: $(tail -n +3 /proc/net/dev | cut -d: -f1 | grep nslab | tr -d ' ')
    "#;
    let (code, out, err) = common::run(&mut in_netns(&run, script));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("inet 10.213.0.2/24"), "{out}");
    assert!(out.contains("inet 10.213.0.3/24"), "{out}");
    assert!(out.contains("reached-first"), "{out}{err}");
    assert!(out.contains("reached-bridge"), "{out}{err}");
    assert!(
        out.contains("left: \n") || out.ends_with("left:\n"),
        "devices left: {out}{err}"
    );
    assert!(leftovers_in(&run).is_empty(), "{:?}", leftovers_in(&run));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_joiner_shares_the_named_containers_namespace_and_loopback() {
    require_root!();
    common::rootfs();
    let run = run_dir("join");
    let script = r#"
        "$L" -q --name web -- sh -c 'echo web: $(readlink /proc/self/ns/net); timeout 10 nc -l -p 8080 -e echo hello-from-web' &
        web=$!
        for i in $(seq 50); do grep -q '"net:\[' "$RUN/containers/web.json" 2>/dev/null && break; sleep 0.1; done
        "$L" -q --net container:web -- sh -c '
            echo joiner: $(readlink /proc/self/ns/net)
            ip -4 addr show eth0 | grep -o "inet [0-9./]*"
            for i in 1 2 3 4 5 6 7 8 9 10; do nc 127.0.0.1 8080 && break; sleep 0.2; done'
        wait $web
    "#;
    let (code, out, err) = common::run(&mut in_netns(&run, script));
    assert_eq!(code, 0, "{out}{err}");
    let web = out
        .lines()
        .find_map(|l| l.strip_prefix("web: "))
        .expect(&out);
    let joiner = out
        .lines()
        .find_map(|l| l.strip_prefix("joiner: "))
        .expect(&out);
    assert_eq!(web, joiner, "{out}");
    assert!(
        out.contains("inet 10.213.0.2/24"),
        "the joiner sees web's eth0: {out}"
    );
    assert!(out.contains("hello-from-web"), "{out}{err}");
    assert!(leftovers_in(&run).is_empty(), "{:?}", leftovers_in(&run));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn twenty_at_once_get_distinct_addresses_and_all_clean_up() {
    require_root!();
    common::rootfs();
    let run = run_dir("twenty");
    let script = r#"
        for i in $(seq 20); do
            "$L" -q -- sh -c 'ip -4 addr show eth0 | grep -o "inet [0-9./]*"; sleep 1' > "$RUN/out.$i" 2>&1 &
        done
        wait
        cat "$RUN"/out.*
        echo left: $(tail -n +3 /proc/net/dev | cut -d: -f1 | grep nslab | tr -d ' ')
    "#;
    let (code, out, err) = common::run(&mut in_netns(&run, script));
    assert_eq!(code, 0, "{out}{err}");
    let mut addresses: Vec<&str> = out.lines().filter(|l| l.starts_with("inet ")).collect();
    assert_eq!(addresses.len(), 20, "{out}");
    addresses.sort();
    addresses.dedup();
    assert_eq!(
        addresses.len(),
        20,
        "an address was handed out twice:\n{out}"
    );
    assert!(
        out.trim_end().ends_with("left:"),
        "devices left: {out}{err}"
    );
    let left: Vec<String> = leftovers_in(&run);
    assert!(left.is_empty(), "{left:?}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn bad_modes_and_unknown_names_fail_clearly_and_make_nothing() {
    require_root!();
    let run = run_dir("bad");
    let script = format!(
        "\"$L\" --net bogus; echo status=$?; \
         \"$L\" --net container:ghost; echo status=$?; \
         \"$L\" --name 'no/slash'; echo status=$?; \
         echo left: $({LINKS})"
    );
    let (code, out, err) = common::run(&mut in_netns(&run, &script));
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("\"bogus\" is not a network mode"), "{err}");
    assert!(err.contains("no running container is named ghost"), "{err}");
    assert!(err.contains("'/' is not allowed"), "{err}");
    assert_eq!(out.matches("status=0").count(), 0, "{out}");
    assert!(out.contains("left: lo"), "{out}");
    assert!(leftovers_in(&run).is_empty(), "{:?}", leftovers_in(&run));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_lesson_killed_with_sigkill_leaves_what_nslab_cleanup_removes() {
    require_root!();
    common::rootfs();
    let run = run_dir("sigkill");
    // SIGKILL gives the lesson no chance to unplug: its container dies
    // with it (PR_SET_PDEATHSIG), its veth pair with the container's
    // namespace, but the lease, the record and the bridge stay.
    let script = r#"
        links() { tail -n +3 /proc/net/dev | cut -d: -f1 | grep nslab | tr -d ' ' | sort | tr '\n' ' '; }
        "$L" -q --name killed -- sleep 30 &
        lesson=$!
        for i in $(seq 100); do grep -q '"net:\[' "$RUN/containers/killed.json" 2>/dev/null && break; sleep 0.1; done
        kill -KILL $lesson
        wait $lesson
        for i in $(seq 50); do [ -z "$(links | grep nslab2h)" ] && break; sleep 0.1; done
        echo left: $(ls "$RUN/net/leases") $(ls "$RUN/containers") $(links)
        "$NSLAB" cleanup --dry-run --run-dir "$RUN" >/dev/null
        echo dry: $(ls "$RUN/net/leases") $(ls "$RUN/containers") $(links)
        "$NSLAB" cleanup --run-dir "$RUN" || echo cleanup failed
        echo after: $(ls "$RUN/net/leases") $(ls "$RUN/containers") $(links)
    "#;
    let (code, out, err) = common::run(&mut in_netns(&run, script));
    assert_eq!(code, 0, "{out}{err}");
    let line = |prefix: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} in {out}{err}"))
            .trim()
            .to_string()
    };
    assert_eq!(line("left:"), "2 killed.json nslab0", "{out}{err}");
    assert_eq!(
        line("dry:"),
        "2 killed.json nslab0",
        "--dry-run removed something: {out}"
    );
    assert_eq!(line("after:"), "", "{out}{err}");
    assert!(!out.contains("cleanup failed"), "{out}{err}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_killed_runs_lease_and_host_end_do_not_stop_the_next_run() {
    require_root!();
    common::rootfs();
    let run = run_dir("stale");
    // A lease whose owner is gone (a pid that has exited), and the host end
    // of its veth pair still there: the next run frees both, and takes the
    // address itself.
    let script = r#"
        mkdir -p "$RUN/net/leases"
        sh -c 'exit 0' & dead=$!; wait $dead
        echo "$dead 1" > "$RUN/net/leases/2"
        ip link add nslab2h type veth peer name nslab2c || exit 9
        "$L" -q -- sh -c 'ip -4 addr show eth0 | grep -o "inet [0-9./]*"'
        echo status=$?
        echo left: $(ls "$RUN/net/leases") $(tail -n +3 /proc/net/dev | cut -d: -f1 | grep nslab | tr -d ' ')
    "#;
    let (code, out, err) = common::run(&mut in_netns(&run, script));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("status=0"), "{out}{err}");
    assert!(out.contains("inet 10.213.0.2/24"), "{out}{err}");
    assert!(out.trim_end().ends_with("left:"), "{out}");
}
