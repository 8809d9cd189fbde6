//! Lesson 05: an IPC namespace.
//!
//! Checked from outside: an IPC object the test makes on the host is not
//! visible inside, and after every run (failed ones too) the host's System V
//! objects and POSIX queues are exactly as before.

mod common;

use insta_cmd::assert_cmd_snapshot;
use nix::mqueue::{mq_close, mq_open, mq_unlink, MQ_OFlag, MqAttr};
use nix::sys::stat::Mode;
use std::sync::{Mutex, MutexGuard};

const BIN: &str = env!("CARGO_BIN_EXE_05-ipc");

/// The shared filters, plus this lesson's: System V ids are handed out by
/// the kernel, and the host's POSIX queue is named after the lesson's PID.
fn settings() -> insta::Settings {
    let mut settings = common::settings();
    settings.add_filter(r"(?m)^  / \(\S+\)$", "  / ([ROOTFS FS TYPE])");
    settings.add_filter(r"((?:msg|shm|sem)get\(.*\)) = \d+", "$1 = [ID]");
    settings.add_filter(r"((?:msg|shm|sem)ctl)\(\d+,", "$1([ID],");
    settings.add_filter(r"lists id \d+", "lists id [ID]");
    settings.add_filter(r"/nslab-demo-\d+", "/nslab-demo-[PID]");
    settings
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
fn demo_narration_and_output() {
    require_root!();
    common::rootfs();
    let _one = one_at_a_time();
    settings().bind(|| assert_cmd_snapshot!(common::lesson(BIN)));
}

#[test]
fn help() {
    settings().bind(|| assert_cmd_snapshot!(common::lesson(BIN).arg("--help")));
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
fn the_demo_shows_the_objects_from_the_host_but_not_inside() {
    require_root!();
    let _one = one_at_a_time();
    let (code, out, err) = run_leaving_host_alone(&[]);
    assert_eq!(code, 0, "{err}");
    for line in [
        "host: message queues:  lists id",
        "host: shared memory:   lists id",
        "host: semaphore sets:  lists id",
        "inside: message queues: 0 in /proc/sysvipc/msg",
        "inside: shared memory:  0 in /proc/sysvipc/shm",
        "inside: semaphore sets: 0 in /proc/sysvipc/sem",
        "inside: /dev/mqueue:    empty",
        "inside: /dev/mqueue:    made-inside",
        "host: made-inside:     /made-inside: ENOENT",
        "✓ the host's IPC objects are as they were before the lesson",
    ] {
        assert!(out.contains(line), "no {line:?} in:\n{out}");
    }
    let queue = lessons_queue(&out);
    assert!(
        out.contains(&format!("host: POSIX queue:     {queue} exists")),
        "{out}"
    );
    assert!(out.contains(&format!("mq_unlink({queue:?})")), "{out}");
}

#[test]
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
