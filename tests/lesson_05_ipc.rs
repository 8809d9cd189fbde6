//! Lesson 05: an IPC namespace.
//!
//! Checked from outside: an IPC object the test makes on the host is not
//! visible inside; the demo's key finds a different queue inside than on
//! the host, and the host's survives; a run with the learner's own command
//! claims nothing about the demo; and after every run (failed ones too) the
//! host's System V objects and POSIX queues are exactly as before.

mod common;

use insta_cmd::assert_cmd_snapshot;
use nix::mqueue::{mq_close, mq_open, mq_unlink, MQ_OFlag, MqAttr};
use nix::sys::stat::Mode;
use std::sync::{Mutex, MutexGuard};

const BIN: &str = env!("CARGO_BIN_EXE_05-ipc");

/// The shared filters, plus this lesson's: the System V key is made from
/// the lesson's PID, the host's ids are handed out by the kernel, and the
/// host's POSIX queue is named after the lesson's PID. The container's id
/// stays visible: in a fresh IPC namespace the first queue is always id 0.
/// So does the line that compares it with the host's, which
/// [`not_the_first_queue_since_boot`] makes the same on every run.
fn settings() -> insta::Settings {
    let mut settings = common::settings();
    settings.add_filter(r"(?m)^  / \(\S+\)$", "  / ([ROOTFS FS TYPE])");
    settings.add_filter(r"0x6e[0-9a-f]{6}\b", "[KEY]");
    settings.add_filter(r"((?:msg|shm|sem)get\(.*IPC_EXCL.*\)) = \d+", "$1 = [ID]");
    settings.add_filter(r"((?:msg|shm|sem)ctl)\(\d+,", "$1([ID],");
    settings.add_filter(r"is id \d+", "is id [ID]");
    settings.add_filter(r"read by PID \d+;", "read by PID [N];");
    settings.add_filter(r"/nslab-demo-\d+", "/nslab-demo-[PID]");
    settings
}

/// Makes and removes a message queue on the host, so that the lesson's is
/// not the host's first since boot: that one has id 0, the same number as
/// the container's first, and the lesson says so (truly, but differently).
fn not_the_first_queue_since_boot() {
    // SAFETY: plain system calls; IPC_RMID takes no buffer.
    let id = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
    assert!(id >= 0, "msgget: {}", nix::errno::Errno::last());
    assert_eq!(
        unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) },
        0
    );
}

/// The key the lesson with PID `pid` uses, as ipcs(1) writes it.
fn key_of(pid: u32) -> String {
    format!("0x{:08x}", 0x6e00_0000 | (pid & 0xff_ffff))
}

/// The lesson's PID, from the name of its POSIX queue.
fn lessons_pid(out: &str) -> u32 {
    lessons_queue(out)["/nslab-demo-".len()..].parse().unwrap()
}

/// The number after `prefix` on the line that starts with it (after any
/// indentation).
fn number_after(out: &str, prefix: &str) -> i32 {
    let line = out
        .lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{out}"));
    let digits: String = line[prefix.len()..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap_or_else(|_| panic!("{line:?}"))
}

/// One run at a time: each test compares the host's IPC objects before and
/// after, and every run of the lesson makes (and removes) some.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The host's System V ids, by kind, sorted.
fn sysv_ids() -> Vec<Vec<i32>> {
    ["msg", "shm", "sem"]
        .iter()
        .map(|kind| {
            let text = std::fs::read_to_string(format!("/proc/sysvipc/{kind}")).unwrap();
            let mut ids: Vec<i32> = text
                .lines()
                .skip(1)
                .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
                .collect();
            ids.sort();
            ids
        })
        .collect()
}

/// Whether the host has a POSIX queue called `name`.
fn queue_exists(name: &str) -> bool {
    match mq_open(name, MQ_OFlag::O_RDONLY, Mode::empty(), None) {
        Ok(q) => {
            mq_close(q).unwrap();
            true
        }
        Err(nix::errno::Errno::ENOENT) => false,
        Err(e) => panic!("mq_open({name}): {e}"),
    }
}

/// The host queue the lesson narrated creating, e.g. `/nslab-demo-1234`.
fn lessons_queue(out: &str) -> String {
    let start = out.find("mq_open(\"/nslab-demo-").expect(out) + "mq_open(\"".len();
    let len = out[start..].find('"').unwrap();
    out[start..start + len].to_string()
}

/// Runs the lesson and checks that it leaves the host's IPC objects and
/// mount table as they were, and removed its own POSIX queue. The caller
/// holds [`one_at_a_time`].
fn run_leaving_host_alone(args: &[&str]) -> (i32, String, String) {
    common::rootfs();
    let (ids, mounts) = (sysv_ids(), common::mount_points());
    let (code, out, err) = common::run(common::lesson(BIN).args(args));
    assert_eq!(
        sysv_ids(),
        ids,
        "05-ipc {args:?} left System V objects:\n{out}{err}"
    );
    assert_eq!(common::mount_points(), mounts);
    if !args.contains(&"-q") {
        assert!(
            !queue_exists(&lessons_queue(&out)),
            "05-ipc {args:?} left its queue"
        );
    }
    (code, out, err)
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn demo_narration_and_output() {
    require_root!();
    common::rootfs();
    let _one = one_at_a_time();
    not_the_first_queue_since_boot();
    settings().bind(|| assert_cmd_snapshot!(common::timed(&mut common::lesson(BIN))));
}

#[test]
fn help() {
    settings().bind(|| assert_cmd_snapshot!(common::timed(common::lesson(BIN).arg("--help"))));
}

/// Removes the test's own host objects even if an assertion fails.
struct TestObjects {
    msqid: i32,
    queue: String,
}

impl Drop for TestObjects {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID takes no buffer.
        unsafe { libc::msgctl(self.msqid, libc::IPC_RMID, std::ptr::null_mut()) };
        let _ = mq_unlink(self.queue.as_str());
    }
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn an_ipc_object_made_on_the_host_is_absent_inside() {
    require_root!();
    let _one = one_at_a_time();
    common::rootfs();
    // SAFETY: a plain system call.
    let msqid = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
    assert!(msqid >= 0, "msgget: {}", nix::errno::Errno::last());
    let queue = format!("/nslab-test-{}", std::process::id());
    let attr = MqAttr::new(0, 4, 16, 0);
    let oflag = MQ_OFlag::O_CREAT | MQ_OFlag::O_EXCL | MQ_OFlag::O_RDWR;
    mq_close(
        mq_open(
            queue.as_str(),
            oflag,
            Mode::from_bits_truncate(0o600),
            Some(&attr),
        )
        .unwrap(),
    )
    .unwrap();
    let objects = TestObjects { msqid, queue };
    assert!(sysv_ids()[0].contains(&msqid));

    let (code, out, err) = run_leaving_host_alone(&[
        "-q",
        "--",
        "sh",
        "-c",
        "cat /proc/sysvipc/msg /proc/sysvipc/shm /proc/sysvipc/sem; echo queues:; ls /dev/mqueue",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    // Three headers, no object: not the test's queue, not the lesson's own.
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].contains("msqid") && lines[1].contains("shmid") && lines[2].contains("semid"));
    assert_eq!(lines[3], "queues:", "{out}");
    // Still there on the host, untouched.
    assert!(sysv_ids()[0].contains(&objects.msqid));
    assert!(queue_exists(&objects.queue));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_demo_shows_the_objects_from_the_host_but_not_inside() {
    require_root!();
    let _one = one_at_a_time();
    let (code, out, err) = run_leaving_host_alone(&[]);
    assert_eq!(code, 0, "{err}");
    let key = key_of(lessons_pid(&out));
    for line in [
        format!("host: message queues:  key {key} is id"),
        format!("host: shared memory:   key {key} is id"),
        format!("host: semaphore sets:  key {key} is id"),
        // Only the container's own queue, made by the child before execve.
        "inside: message queues: 1 in /proc/sysvipc/msg".into(),
        "inside: shared memory:  0 in /proc/sysvipc/shm".into(),
        "inside: semaphore sets: 0 in /proc/sysvipc/sem".into(),
        "inside: /dev/mqueue:    empty".into(),
        "inside: /dev/mqueue:    made-inside".into(),
        "host: made-inside:     /made-inside: ENOENT".into(),
        "✓ the host's System V IPC objects are as they were before the lesson".into(),
    ] {
        assert!(out.contains(&line), "no {line:?} in:\n{out}");
    }
    let queue = lessons_queue(&out);
    assert!(
        out.contains(&format!("host: POSIX queue:     {queue} exists")),
        "{out}"
    );
    assert!(out.contains(&format!("mq_unlink({queue:?})")), "{out}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_same_key_names_a_different_object_inside_and_the_hosts_survives() {
    require_root!();
    let _one = one_at_a_time();
    not_the_first_queue_since_boot();
    let (code, out, err) = run_leaving_host_alone(&[]);
    assert_eq!(code, 0, "{out}{err}");
    // The lesson's removal of its own objects worked: nothing in the
    // container removed them first.
    assert!(err.is_empty(), "{err}");
    let key = key_of(lessons_pid(&out));
    let host_id = number_after(&out, &format!("host: message queues:  key {key} is id"));
    // Inside, before execve: the key and the host's id find nothing.
    for line in [
        format!("→ msgget({key}, 0) = -1 ENOENT"),
        format!("→ msgctl({host_id}, IPC_STAT, &buf) = -1 EINVAL"),
        format!("→ msgctl({host_id}, IPC_RMID, NULL) = -1 EINVAL"),
        format!("→ mq_open({:?}, O_RDONLY) = -1 ENOENT", lessons_queue(&out)),
    ] {
        assert!(out.contains(&line), "no {line:?} in:\n{out}");
    }
    let made = number_after(&out, &format!("→ msgget({key}, IPC_CREAT | 0600) ="));
    // What the container's shell read in its own /proc/sysvipc/msg.
    let found = number_after(&out, &format!("inside: key {key}:    msqid"));
    assert_eq!(found, made, "{out}");
    assert_ne!(found, host_id, "{out}");
    // Read by a process other than the one that made it, PID 1.
    let reader = number_after(
        &out,
        &format!("inside: key {key}:    msqid {found}  (read by PID"),
    );
    assert_ne!(reader, 1, "{out}");
    // After the run, from the host: the host's queue, with its key and id.
    assert!(
        out.contains(&format!(
            "host: message queues:  key {key} is id {host_id}, as before the run"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("→ msgctl({host_id}, IPC_RMID, NULL)\n")));
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_command_of_the_learners_gets_no_claims_about_the_demo() {
    require_root!();
    let _one = one_at_a_time();
    let (code, out, err) = run_leaving_host_alone(&["--", "sh", "-c", "true"]);
    assert_eq!(code, 0, "{out}{err}");
    let key = key_of(lessons_pid(&out));
    for claim in [
        "made-inside",
        "took them along",
        "the same key now names",
        "IPC_CREAT | 0600)",
        "IPC_STAT",
        "inside:",
    ] {
        assert!(!out.contains(claim), "{claim:?} in:\n{out}");
    }
    for line in [
        format!("host: message queues:  key {key} is id"),
        format!("host: shared memory:   key {key} is id"),
        format!("host: semaphore sets:  key {key} is id"),
        "✓ the host's System V IPC objects are as they were before the lesson".into(),
    ] {
        assert!(out.contains(&line), "no {line:?} in:\n{out}");
    }
    assert_eq!(out.matches(", as before the run").count(), 3, "{out}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_host_objects_are_removed_when_the_command_fails() {
    require_root!();
    let _one = one_at_a_time();
    let (code, out, err) = run_leaving_host_alone(&["--", "no-such-command"]);
    assert_eq!(code, 127, "{out}{err}");
    assert!(err.contains("command not found: no-such-command"), "{err}");
    assert!(out.contains("msgctl("), "{out}");
    let (code, out, err) = run_leaving_host_alone(&["--", "sh", "-c", "exit 9"]);
    assert_eq!(code, 9, "{out}{err}");
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn the_uts_and_mount_namespaces_are_still_there() {
    require_root!();
    let _one = one_at_a_time();
    let host = common::host_hostname();
    let (code, out, err) = run_leaving_host_alone(&[
        "-q",
        "--hostname",
        "ipc-lab",
        "--",
        "sh",
        "-c",
        "uname -n; ps -o pid= ; true",
    ]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines[0], "ipc-lab");
    assert_eq!(lines[1], "1", "{out}");
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(common::host_hostname(), host);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_key_already_taken_is_reported_and_its_object_left_alone() {
    use std::os::unix::process::CommandExt;
    require_root!();
    let _one = one_at_a_time();
    common::rootfs();
    let ids = sysv_ids();
    let mut cmd = common::lesson(BIN);
    // Plays a killed earlier run with the same PID: in the forked child,
    // before exec, a queue with the key the lesson will use.
    // SAFETY: getpid and msgget are async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(|| {
            let key = 0x6e00_0000 | (libc::getpid() & 0xff_ffff);
            if libc::msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o600) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let key = 0x6e00_0000 | (child.id() as i32 & 0xff_ffff);
    let output = child.wait_with_output().unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    let planted: Vec<i32> = std::fs::read_to_string("/proc/sysvipc/msg")
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut columns = l.split_whitespace();
            (columns.next()? == key.to_string()).then(|| columns.next()?.parse().ok())?
        })
        .collect();
    for id in &planted {
        // SAFETY: IPC_RMID takes no buffer.
        unsafe { libc::msgctl(*id, libc::IPC_RMID, std::ptr::null_mut()) };
    }
    assert_eq!(planted.len(), 1, "the planted queue is gone:\n{out}{err}");
    assert_ne!(output.status.code(), Some(0), "{out}{err}");
    let hex = format!("0x{key:08x}");
    assert!(
        out.contains(&format!(
            "→ msgget({hex}, IPC_CREAT | IPC_EXCL | 0600) = -1 EEXIST"
        )),
        "{out}"
    );
    assert!(
        err.contains(&format!(
            "the key {hex} already names a message queue on the host"
        )),
        "{err}"
    );
    assert!(
        err.contains("nslab cleanup") && err.contains(&format!("ipcrm -Q {hex}")),
        "{err}"
    );
    assert!(!out.contains("clone("), "{out}");
    assert_eq!(sysv_ids(), ids, "{out}{err}");
}
