//! Named running containers: a record under the run directory.
//!
//! From lesson 06 on, `--name web` names a container, so that another one
//! can join its network namespace with `--net container:web`. While it
//! runs, its lesson keeps a *record*, `<run_dir>/containers/web.json`:
//!
//! ```json
//! {
//!   "name": "web",
//!   "lesson": { "pid": 4242, "start_time": 1234567 },
//!   "container": { "pid": 4250, "start_time": 1234590 },
//!   "namespaces": [["net", "net:[4026532840]"]]
//! }
//! ```
//!
//! Each process is a pid *and* its start time (see [`ProcessId`]). The run
//! directory, [`DEFAULT_RUN_DIR`] unless [`RUN_DIR_ENV`] says otherwise, is
//! for state that must not outlive a reboot: `/run` is a tmpfs (hier(7)),
//! unlike the rootfs under `/var/lib/nslab`.
//!
//! Learners run twenty lessons at once and kill them half-way, so:
//!
//! - a name is claimed **exclusively**: link(2) fails with `EEXIST` when the
//!   name exists, so of two claims at once exactly one wins ([`claim`]);
//! - a reader never sees **half a record**: each one is written to a
//!   temporary file first, then linked or renamed into place;
//! - a record left by a **killed** lesson is recognised as stale (its
//!   processes are gone, or their pids now belong to others) and reclaimed.

use crate::{narrate, rootfs};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Where records live unless [`RUN_DIR_ENV`] says otherwise.
pub const DEFAULT_RUN_DIR: &str = "/run/nslab";

/// The environment variable that moves the run directory.
pub const RUN_DIR_ENV: &str = "NSLAB_RUN_DIR";

/// The run directory when none is given: [`DEFAULT_RUN_DIR`] for root;
/// for anyone else `$XDG_RUNTIME_DIR/nslab` (a tmpfs of their own that
/// systemd-logind makes), or `/tmp/nslab-run-<uid>`.
pub fn default_run_dir() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from(DEFAULT_RUN_DIR);
    }
    std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|v| !v.is_empty())
        .map(|dir| PathBuf::from(dir).join("nslab"))
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/nslab-run-{}", nix::unistd::geteuid())))
}

/// How a record's file name ends: `web.json`.
pub const RECORD_SUFFIX: &str = ".json";

/// The longest name allowed, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// What can go wrong while naming, recording or finding a container.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The name breaks the rule of [`check_name`].
    #[error("invalid container name {name:?}: {reason} (names match [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 64 bytes)")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading a start time from `/proc/<pid>/stat` failed: most often,
    /// there is no such process.
    #[error("failed to read the start time of process {pid} from /proc/{pid}/stat")]
    ReadStat {
        /// The process.
        pid: i32,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A step on the files of the run directory failed.
    #[error("failed to {step} {}", path.display())]
    File {
        /// What was being done: "write", "link", "lock", …
        step: &'static str,
        /// The file or directory it was done to.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Another running container holds the name.
    #[error("the name {name} is in use by the container of lesson process {pid}")]
    NameInUse {
        /// The name.
        name: String,
        /// The lesson that holds it.
        pid: i32,
    },
    /// No record has that name.
    #[error("no running container is named {name}")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names of the containers running now, sorted.
        known: Vec<String>,
    },
    /// The record's processes are gone: a killed run left it.
    #[error("the container named {name} is no longer running")]
    NotRunning {
        /// The name.
        name: String,
    },
    /// The lesson runs but has not recorded its container yet.
    #[error("the container named {name} has not started yet")]
    NoContainerYet {
        /// The name.
        name: String,
    },
}

impl RecordError {
    /// What the learner can do about this error, when there is advice to give.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            RecordError::InvalidName { .. } => "pick a name such as `web` or `db-1`".into(),
            RecordError::File { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => {
                format!("the run directory must be writable: the default, {DEFAULT_RUN_DIR}, needs root; {RUN_DIR_ENV} names another")
            }
            RecordError::NameInUse { pid, .. } => {
                format!("pick another `--name`, or stop that container first (its lesson is process {pid})")
            }
            RecordError::Unknown { known, .. } if known.is_empty() => {
                "no named container is running: start one in another terminal with `--name NAME`".into()
            }
            RecordError::Unknown { known, .. } => format!("running now: {}", known.join(", ")),
            RecordError::NotRunning { .. } => {
                "the lesson that ran it has ended or was killed; `sudo nslab cleanup` removes a record a killed lesson left".into()
            }
            RecordError::NoContainerYet { .. } => "its lesson is still starting it: try again in a moment".into(),
            _ => return None,
        })
    }
}

/// The [`RecordError::File`] for `step` on `path`, for `map_err`.
fn failed(step: &'static str, path: &Path) -> impl FnOnce(io::Error) -> RecordError {
    let path = path.to_path_buf();
    move |source| RecordError::File { step, path, source }
}

/// Checks `name` against docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at
/// most [`MAX_NAME_LEN`] bytes. The name becomes a file name, so the rule
/// also keeps out `/`, `..` and a leading `.` (which temporary files use).
pub fn check_name(name: &str) -> Result<(), RecordError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
    let reason = if name.is_empty() {
        "it is empty".to_string()
    } else if name.len() > MAX_NAME_LEN {
        format!("it is {} bytes long", name.len())
    } else if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        "it must start with a letter or a digit".to_string()
    } else if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        format!("{bad:?} is not allowed")
    } else {
        return Ok(());
    };
    let name = name.to_string();
    Err(RecordError::InvalidName { name, reason })
}

/// One process, told apart from any later process that gets the same pid.
///
/// Pids are reused once the kernel wraps around `pid_max`; a killed
/// lesson's pid may belong to another process by the time anyone looks.
/// The start time, fixed at fork, tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    /// The process id.
    pub pid: i32,
    /// When it started, in clock ticks since boot: field 22 of
    /// `/proc/<pid>/stat` (proc(5)).
    pub start_time: u64,
}

impl ProcessId {
    /// The process `pid` as it is now. See proc(5), `/proc/<pid>/stat`.
    pub fn of(pid: i32) -> Result<ProcessId, RecordError> {
        let read_stat = |source| RecordError::ReadStat { pid, source };
        let line = fs::read_to_string(format!("/proc/{pid}/stat")).map_err(read_stat)?;
        let no_start = || io::Error::new(io::ErrorKind::InvalidData, "no start time in field 22");
        let (_, start_time) = parse_stat(&line).ok_or_else(|| read_stat(no_start()))?;
        Ok(ProcessId { pid, start_time })
    }

    /// True if this very process still runs: its pid exists, started at
    /// the recorded time (else the pid was reused) and is not a zombie.
    pub fn is_running(&self) -> bool {
        self.why_not_running().is_none()
    }

    /// Why it is not running, in words for the narration; `None` if it is.
    pub fn why_not_running(&self) -> Option<String> {
        let pid = self.pid;
        let Ok(line) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return Some(format!("process {pid} is gone"));
        };
        match parse_stat(&line) {
            None => Some(format!("/proc/{pid}/stat cannot be parsed")),
            // Z: exited, not yet reaped by its parent; X: being removed.
            Some(('Z' | 'X', _)) => Some(format!("process {pid} has exited (a zombie)")),
            Some((_, started)) if started != self.start_time => Some(format!(
                "pid {pid} now belongs to another process (started at tick {started}, not {})",
                self.start_time
            )),
            Some(_) => None,
        }
    }
}

/// The state (field 3) and start time (field 22) in a `/proc/<pid>/stat`
/// line. See proc(5).
pub fn parse_stat(line: &str) -> Option<(char, u64)> {
    // Field 2 is the command name in parentheses, as the process set it
    // (prctl(2) PR_SET_NAME): it may hold spaces and parentheses, "(a) (b)"
    // is one field, and nothing is escaped. It is the last field that can
    // hold a ')', so the fields after the last ')' are the kernel's own.
    let rest = &line[line.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 3 is taken: field 4 is nth(0), field 22 is nth(18).
    let start_time = fields.nth(18)?.parse().ok()?;
    Some((state, start_time))
}

/// What a record holds: the name, who holds it, and what others may join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The container's name.
    pub name: String,
    /// The lesson that claimed the name and removes the record on exit.
    pub lesson: ProcessId,
    /// The container's first process, once it is started.
    pub container: Option<ProcessId>,
    /// Its namespaces, kind and `/proc/<pid>/ns` link:
    /// `("net", "net:[4026532840]")`.
    pub namespaces: Vec<(String, String)>,
}

impl Record {
    /// A record of `name`, held by `lesson`, whose container is not started yet.
    pub fn new(name: &str, lesson: ProcessId) -> Record {
        let (name, container, namespaces) = (name.to_string(), None, Vec::new());
        Record {
            name,
            lesson,
            container,
            namespaces,
        }
    }

    /// Why neither its lesson nor its container runs; `None` while either does.
    pub fn why_not_running(&self) -> Option<String> {
        // `?` returns None (running) as soon as one of them runs.
        let lesson = self.lesson.why_not_running()?;
        match &self.container {
            Some(container) => Some(format!("{lesson}; {}", container.why_not_running()?)),
            None => Some(lesson),
        }
    }
}

/// `<run_dir>/containers`: where the records are.
pub fn containers_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("containers")
}

/// `<run_dir>/containers/<name>.json`.
pub fn record_path(run_dir: &Path, name: &str) -> PathBuf {
    containers_dir(run_dir).join(format!("{name}{RECORD_SUFFIX}"))
}

/// A name this process holds: its record exists while the claim lives.
///
/// Dropping it removes the record, so a normal exit, an error return and a
/// panic that unwinds all remove it. SIGKILL ends the process without
/// running any code of ours, which is why [`claim`], [`find`] and
/// [`stale_records`] recognise the records of processes that are gone.
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
    record: Record,
}

/// Claims `name` for this process, exclusively: see the module's docs.
///
/// A record whose processes are gone (or that is garbled) is stale: it is
/// removed, saying why, and the claim tried again.
pub fn claim(run_dir: &Path, name: &str) -> Result<Claim, RecordError> {
    check_name(name)?;
    let dir = containers_dir(run_dir);
    if !dir.is_dir() {
        // 0700: a record names processes whose namespaces others join;
        // only its owner (root, for the lessons) may plant or change one.
        narrate::file_op(format!("mkdir -p -m 0700 {}", dir.display()));
        let created = fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir);
        created.map_err(failed("create the directory", &dir))?;
    }
    let record = Record::new(name, ProcessId::of(std::process::id() as i32)?);
    let path = record_path(run_dir, name);
    narrate::file_op(format!(
        "write {} (atomically: temp file, then link)",
        path.display()
    ));
    let temp = write_temp(&dir, &record)?;
    let claimed = link_or_reclaim(&temp, &path, &dir, name);
    // A claimed record lives on under its second name, `<name>.json`.
    let _ = fs::remove_file(&temp);
    claimed.map(|()| Claim { path, record })
}

/// Links `temp` to `path`, removing a stale record found there first.
fn link_or_reclaim(temp: &Path, path: &Path, dir: &Path, name: &str) -> Result<(), RecordError> {
    if linked(temp, path)? {
        return Ok(());
    }
    // Taken. Judging a record stale and removing it happens under the
    // directory's lock, as does every removal (Drop, remove_if_stale):
    // otherwise two claims could judge the same stale record, and the
    // slower one remove the record the faster one had just linked.
    let _lock = lock(dir)?;
    for _ in 0..3 {
        match judge(path)? {
            Holder::Running(pid) => {
                return Err(RecordError::NameInUse {
                    name: name.into(),
                    pid,
                })
            }
            Holder::Gone => {} // its lesson ended meanwhile
            Holder::Stale(why) => {
                narrate::explain(format!("the record of {name} is stale: {why}"));
                remove(path)?;
            }
        }
        // If this fails, a claim that is running linked the name since:
        // the next round finds it running.
        if linked(temp, path)? {
            return Ok(());
        }
    }
    let racing = "taken and freed again three times: other runs are racing for it";
    Err(failed("claim", path)(io::Error::other(racing)))
}

impl Claim {
    /// The record as it was last written.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// Where the record is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records the container's first process and its namespaces, once it
    /// is started, replacing the record in one step.
    pub fn set_container(
        &mut self,
        pid: i32,
        namespaces: Vec<(String, String)>,
    ) -> Result<(), RecordError> {
        let mut record = self.record.clone();
        record.container = Some(ProcessId::of(pid)?);
        record.namespaces = namespaces;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        narrate::file_op(format!(
            "write {} (atomically: temp file, then rename over it)",
            self.path.display()
        ));
        let temp = write_temp(dir, &record)?;
        // rename(2) changes which file the name points to in one step: a
        // reader that opens the name gets the whole old file or the whole
        // new one, and keeps reading the one it opened even once replaced.
        let renamed = fs::rename(&temp, &self.path);
        if renamed.is_err() {
            let _ = fs::remove_file(&temp);
        }
        renamed.map_err(failed("rename the new record over", &self.path))?;
        self.record = record;
        Ok(())
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // A forked child that unwinds must not remove its parent's record.
        if std::process::id() as i32 != self.record.lesson.pid {
            return;
        }
        let _lock = self.path.parent().and_then(|dir| lock(dir).ok());
        if let Err(error) = remove(&self.path) {
            narrate::warning(error);
        }
    }
}

/// Reads the record of the running container `name`, for
/// `--net container:NAME`.
pub fn find(run_dir: &Path, name: &str) -> Result<Record, RecordError> {
    check_name(name)?;
    let path = record_path(run_dir, name);
    narrate::file_op(format!("read {}", path.display()));
    let (name, record) = match fs::read(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let known = running_names(run_dir);
            return Err(RecordError::Unknown {
                name: name.into(),
                known,
            });
        }
        Err(source) => return Err(failed("read", &path)(source)),
        Ok(bytes) => (
            name.to_string(),
            serde_json::from_slice::<Record>(&bytes).ok(),
        ),
    };
    match record {
        Some(record) if record.container.is_some_and(|c| c.is_running()) => Ok(record),
        Some(record) if record.container.is_none() && record.lesson.is_running() => {
            Err(RecordError::NoContainerYet { name })
        }
        _ => Err(RecordError::NotRunning { name }),
    }
}

/// The records and temporary files in `run_dir` whose owners are gone,
/// sorted, for `nslab cleanup`. Remove each with [`remove_if_stale`].
pub fn stale_records(run_dir: &Path) -> Vec<PathBuf> {
    let files = files(run_dir).into_iter();
    files
        .filter(|(path, file)| is_stale(path, file))
        .map(|(path, _)| path)
        .collect()
}

/// Removes `path`, one of [`stale_records`], if it is stale still: by now
/// a running lesson may have reclaimed the name, and keeps its record.
/// True if it was removed.
pub fn remove_if_stale(path: &Path) -> Result<bool, RecordError> {
    let _lock = lock(path.parent().unwrap_or(Path::new(".")))?;
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    if !is_stale(path, &file) {
        return Ok(false);
    }
    remove(path).map(|()| true)
}

/// Who holds a name, as far as its record tells.
enum Holder {
    Running(i32),
    Stale(String),
    Gone,
}

fn judge(path: &Path) -> Result<Holder, RecordError> {
    let bytes = match fs::read(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Holder::Gone),
        Err(source) => return Err(failed("read", path)(source)),
        Ok(bytes) => bytes,
    };
    // Records appear only whole (by link or rename of a complete file), so
    // a garbled one was damaged, or cut short by a crash of the machine.
    let Some(record) = serde_json::from_slice::<Record>(&bytes).ok() else {
        return Ok(Holder::Stale("it is garbled or cut short".into()));
    };
    Ok(match record.why_not_running() {
        None => Holder::Running(record.lesson.pid),
        Some(why) => Holder::Stale(why),
    })
}

fn is_stale(path: &Path, file: &str) -> bool {
    // A temporary file's writer may be mid-write: only its pid is sure.
    if let Some(pid) = temp_owner(file) {
        return !rootfs::is_alive(pid);
    }
    let record = file.ends_with(RECORD_SUFFIX) && !file.starts_with('.');
    record && matches!(judge(path), Ok(Holder::Stale(_)))
}

/// The files in the containers directory, sorted: path and file name.
fn files(run_dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(entries) = fs::read_dir(containers_dir(run_dir)) else {
        return Vec::new();
    };
    let entries = entries.flatten();
    let mut files: Vec<_> = entries
        .map(|e| (e.path(), e.file_name().to_string_lossy().into_owned()))
        .collect();
    files.sort();
    files
}

fn running_names(run_dir: &Path) -> Vec<String> {
    let files = files(run_dir).into_iter();
    let names = files.filter_map(|(path, file)| match judge(&path) {
        Ok(Holder::Running(_)) if !file.starts_with('.') => {
            file.strip_suffix(RECORD_SUFFIX).map(String::from)
        }
        _ => None,
    });
    names.collect()
}

/// Counts temporary files, so two threads of one process never share one.
static TEMP_COUNT: AtomicU32 = AtomicU32::new(0);

/// Writes `record` to a new `<dir>/.<name>.<pid>.<count>.tmp`, and fsync(2)s
/// it: outside a tmpfs, a crash of the machine could otherwise leave the
/// name linked to a file whose data never reached the disk.
fn write_temp(dir: &Path, record: &Record) -> Result<PathBuf, RecordError> {
    let count = TEMP_COUNT.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!(
        ".{}.{}.{count}.tmp",
        record.name,
        std::process::id()
    ));
    let write = || {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.write_all(&serde_json::to_vec_pretty(record)?)?;
        file.sync_all()
    };
    if let Err(source) = write() {
        let _ = fs::remove_file(&path);
        return Err(failed("write", &path)(source));
    }
    Ok(path)
}

/// The pid in `.<name>.<pid>.<count>.tmp`.
fn temp_owner(file: &str) -> Option<i32> {
    let inner = file.strip_prefix('.')?.strip_suffix(".tmp")?;
    let mut parts = inner.rsplitn(3, '.');
    let (count, pid, _name) = (parts.next()?, parts.next()?, parts.next()?);
    count.parse::<u32>().ok()?;
    pid.parse().ok().filter(|pid| *pid > 0)
}

/// link(2): false when `path` exists already, whoever made it.
fn linked(temp: &Path, path: &Path) -> Result<bool, RecordError> {
    match fs::hard_link(temp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(source) => Err(failed("link a new record to", path)(source)),
    }
}

/// Takes the exclusive flock(2) on the directory of records: held by a
/// file description, so threads exclude each other too, and dropped by the
/// kernel when its holder dies, even by SIGKILL.
fn lock(dir: &Path) -> Result<Flock<File>, RecordError> {
    narrate::syscall(format!("flock({:?}, LOCK_EX)", dir.display().to_string()));
    let file = File::open(dir).map_err(failed("open", dir))?;
    let locked = Flock::lock(file, FlockArg::LockExclusive);
    locked.map_err(|(_, errno)| failed("lock", dir)(errno.into()))
}

/// Removes a record; one already gone is fine.
fn remove(path: &Path) -> Result<(), RecordError> {
    narrate::file_op(format!("remove {}", path.display()));
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(failed("remove", path)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn me() -> ProcessId {
        ProcessId::of(std::process::id() as i32).unwrap()
    }

    /// Writes a record as a killed lesson would have left it.
    fn plant(run: &Path, record: &Record) {
        fs::create_dir_all(containers_dir(run)).unwrap();
        let json = serde_json::to_vec(record).unwrap();
        fs::write(record_path(run, &record.name), json).unwrap();
    }

    /// A process that has exited and been reaped: its pid names nobody.
    fn reaped_child() -> ProcessId {
        let mut child = Command::new("true").spawn().unwrap();
        let id = ProcessId::of(child.id() as i32).unwrap(); // a zombie at worst
        child.wait().unwrap();
        id
    }

    fn setup() -> tempfile::TempDir {
        narrate::init(true);
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn names_follow_dockers_rule() {
        for good in ["web", "db-1", "A.b_c", "7", &"x".repeat(64)] {
            assert!(check_name(good).is_ok(), "{good} should be accepted");
        }
        let reason = |name: &str| match check_name(name) {
            Err(RecordError::InvalidName { reason, .. }) => reason,
            other => panic!("{name:?} should be rejected, got {other:?}"),
        };
        assert_eq!(reason(""), "it is empty");
        assert_eq!(reason(&"x".repeat(65)), "it is 65 bytes long");
        assert_eq!(reason(".hidden"), "it must start with a letter or a digit");
        assert_eq!(reason("-web"), "it must start with a letter or a digit");
        assert_eq!(reason("a/b"), "'/' is not allowed");
        assert_eq!(reason("a b"), "' ' is not allowed");
        assert!(check_name("é").is_err());
        let message = check_name("a/b").unwrap_err().to_string();
        assert!(message.contains("[a-zA-Z0-9][a-zA-Z0-9_.-]*"), "{message}");
    }

    #[test]
    fn a_stat_line_is_parsed_after_the_last_parenthesis() {
        // Fields 3 to 22: state, then 18 fields, then the start time.
        let tail: Vec<String> = (4..=21).map(|n| n.to_string()).collect();
        let line = format!("4242 (evil) (name) S {} 987654 23 24\n", tail.join(" "));
        assert_eq!(parse_stat(&line), Some(('S', 987654)));
        assert_eq!(parse_stat("4242 (cut) S 1 2"), None);
        assert!(me().is_running());
        assert!(me().start_time > 0);
    }

    #[test]
    fn a_zombie_is_not_running() {
        let mut child = Command::new("true").spawn().unwrap();
        let id = ProcessId::of(child.id() as i32).unwrap();
        // Wait for it to exit, but leave it unreaped: a zombie (WNOWAIT).
        let pid = nix::unistd::Pid::from_raw(id.pid);
        let flags = nix::sys::wait::WaitPidFlag::WEXITED | nix::sys::wait::WaitPidFlag::WNOWAIT;
        nix::sys::wait::waitid(nix::sys::wait::Id::Pid(pid), flags).unwrap();
        let why = id.why_not_running();
        child.wait().unwrap();
        assert!(why.unwrap_or_default().contains("zombie"));
        let gone = reaped_child().why_not_running();
        assert!(gone.unwrap_or_default().contains("is gone"));
    }

    #[test]
    fn a_claimed_name_is_in_use_until_the_claim_is_dropped() {
        let run = setup();
        let first = claim(run.path(), "web").unwrap();
        assert!(first.path().is_file());
        match claim(run.path(), "web") {
            Err(RecordError::NameInUse { pid, .. }) => assert_eq!(pid, std::process::id() as i32),
            other => panic!("expected NameInUse, got {other:?}"),
        }
        let path = first.path().to_path_buf();
        drop(first);
        assert!(!path.exists(), "dropping the claim removes the record");
        let left: Vec<_> = files(run.path()).into_iter().map(|(_, f)| f).collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
        assert!(claim(run.path(), "web").is_ok());
    }

    #[test]
    fn a_record_of_a_reaped_lesson_is_stale_and_reclaimed() {
        let run = setup();
        plant(run.path(), &Record::new("web", reaped_child()));
        let web = record_path(run.path(), "web");
        assert_eq!(stale_records(run.path()), vec![web]);
        let claimed = claim(run.path(), "web").unwrap();
        let text = fs::read_to_string(claimed.path()).unwrap();
        let record: Record = serde_json::from_str(&text).unwrap();
        assert_eq!(record.lesson, me());
    }

    #[test]
    fn a_reused_pid_is_recognised_by_its_start_time() {
        let run = setup();
        let mut other = me();
        other.start_time += 1;
        assert!(!other.is_running());
        plant(run.path(), &Record::new("web", other));
        assert!(claim(run.path(), "web").is_ok());
    }

    #[test]
    fn a_garbled_record_is_stale() {
        let run = setup();
        let mut text = serde_json::to_string(&Record::new("web", me())).unwrap();
        text.pop(); // cut short, as by a crash before the data reached the disk
        fs::create_dir_all(containers_dir(run.path())).unwrap();
        fs::write(record_path(run.path(), "web"), text).unwrap();
        assert!(claim(run.path(), "web").is_ok());
    }

    #[test]
    fn find_says_what_it_found() {
        let run = setup();
        match find(run.path(), "web") {
            Err(e @ RecordError::Unknown { .. }) => assert!(e.hint().unwrap().contains("--name")),
            other => panic!("expected Unknown, got {other:?}"),
        }
        let _db = claim(run.path(), "db").unwrap();
        let mut web = claim(run.path(), "web").unwrap();
        plant(run.path(), &Record::new("dead", reaped_child()));
        match find(run.path(), "cache") {
            Err(e @ RecordError::Unknown { .. }) => {
                assert_eq!(e.hint().unwrap(), "running now: db, web");
            }
            other => panic!("expected Unknown, got {other:?}"),
        }
        let web_found = find(run.path(), "web");
        assert!(matches!(web_found, Err(RecordError::NoContainerYet { .. })));
        let dead_found = find(run.path(), "dead");
        assert!(matches!(dead_found, Err(RecordError::NotRunning { .. })));
        let namespaces = vec![("net".into(), "net:[4026532840]".into())];
        let me_pid = std::process::id() as i32;
        web.set_container(me_pid, namespaces.clone()).unwrap();
        let found = find(run.path(), "web").unwrap();
        assert_eq!(
            (found.container, found.namespaces),
            (Some(me()), namespaces)
        );
        assert_eq!(files(run.path()).len(), 3, "no temporary file is left");
    }

    #[test]
    fn of_eight_concurrent_claims_exactly_one_wins() {
        let run = setup();
        let barrier = std::sync::Barrier::new(8);
        let results: Vec<_> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..8)
                .map(|_| s.spawn(|| (barrier.wait(), claim(run.path(), "web")).1))
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        let won = results.iter().filter(|r| r.is_ok()).count();
        let in_use =
            |r: &&Result<Claim, RecordError>| matches!(r, Err(RecordError::NameInUse { .. }));
        let in_use = results.iter().filter(in_use).count();
        assert_eq!((won, in_use), (1, 7), "{results:?}");
    }

    #[test]
    fn stale_records_lists_what_dead_runs_left_only() {
        let run = setup();
        let dead = reaped_child();
        plant(run.path(), &Record::new("dead", dead));
        let _live = claim(run.path(), "live").unwrap();
        let dir = containers_dir(run.path());
        let dead_temp = dir.join(format!(".dead.{}.0.tmp", dead.pid));
        let live_temp = dir.join(format!(".live.{}.0.tmp", std::process::id()));
        fs::write(&dead_temp, "").unwrap();
        fs::write(&live_temp, "").unwrap();
        let stale = stale_records(run.path());
        assert_eq!(stale, [dead_temp, record_path(run.path(), "dead")]);
        assert!(remove_if_stale(&stale[1]).unwrap());
        assert!(!remove_if_stale(&live_temp).unwrap());
        assert!(!stale[1].exists() && live_temp.exists());
    }
}
