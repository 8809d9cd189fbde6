//! One engine container: its record, its name, its directory.
//!
//! ```text
//! <state>/containers/
//!   names/web -> 3f2a…            the name, claimed with symlink(2)
//!   3f2a…/container.json          this record
//!   3f2a…/config.json, rootfs/    the bundle handed to the runtime
//!   3f2a…/upper/ work/ init/      the overlay's writable layer and init layer
//!   3f2a…/log                     what the program wrote (run -d)
//! ```
//!
//! The id is 64 random hex digits, as docker's; the runtime knows the
//! container by the same id. A name is claimed with symlink(2), which
//! fails with `EEXIST` if the name exists: of two `nslab run --name web`
//! at once, exactly one wins, with no lock.

use super::{Engine, EngineError};
use crate::record::ProcessId;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What `nslab run` was asked for, kept for `inspect` and `commit`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunOptions {
    /// `--net`: none, host, bridge, container:NAME.
    pub network: String,
    /// `-p`.
    pub ports: Vec<super::proxy::Published>,
    /// `-v HOSTDIR:CTRDIR[:ro]`, checked.
    pub volumes: Vec<Volume>,
    /// `-e`.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u UID[:GID]`.
    pub user: Option<(u32, u32)>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `--memory`, in bytes.
    pub memory: Option<u64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--pids-limit`.
    pub pids_limit: Option<u64>,
    /// `--init`.
    pub init: bool,
    /// `--rm`.
    pub remove: bool,
    /// `-d`.
    pub detach: bool,
    /// `-i`.
    pub interactive: bool,
    /// `--security-opt seccomp=unconfined`: no seccomp filter.
    #[serde(default)]
    pub unconfined: bool,
}

/// One `-v`: a host directory bind-mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// On the host, absolute.
    pub host: PathBuf,
    /// In the container, absolute.
    pub container: PathBuf,
    /// `:ro`.
    pub read_only: bool,
}

impl std::str::FromStr for Volume {
    type Err = String;

    /// `HOSTDIR:CTRDIR[:ro|:rw]`, both absolute, the host's existing.
    fn from_str(text: &str) -> Result<Volume, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let (host, container, mode) = match parts.as_slice() {
            [host, container] => (*host, *container, "rw"),
            [host, container, mode] => (*host, *container, *mode),
            _ => {
                return Err(
                    "use HOSTDIR:CTRDIR or HOSTDIR:CTRDIR:ro (-v splits at ':', so neither path may hold one; named volumes are not done)".into(),
                )
            }
        };
        if !host.starts_with('/') {
            return Err(format!(
                "{host:?} is not an absolute path: nslab has no named volumes, give a host directory"
            ));
        }
        if !container.starts_with('/') {
            return Err(format!(
                "the container path {container:?} must be absolute, such as /data"
            ));
        }
        if Path::new(container)
            .components()
            .all(|c| c == std::path::Component::RootDir)
        {
            return Err("a volume cannot be mounted over the container's root /".into());
        }
        if Path::new(container)
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(format!("{container:?} has a '..': give the path itself"));
        }
        let read_only = match mode {
            "ro" => true,
            "rw" => false,
            other => return Err(format!("{other:?} is not a mode: use ro or rw")),
        };
        if !Path::new(host).exists() {
            return Err(format!(
                "{host} does not exist on the host: make it first (mkdir -p {host}); nslab does not, where docker would"
            ));
        }
        Ok(Volume {
            host: host.into(),
            container: container.into(),
            read_only,
        })
    }
}

/// One container, as `container.json` records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    /// 64 hex digits; also the runtime's id for it.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The image as it was asked for (`busybox`, `web:v2`).
    pub image: String,
    /// The image's id, to refuse removing an image still in use.
    pub image_id: String,
    /// What it runs.
    pub command: Vec<String>,
    /// When it was made, RFC 3339.
    pub created: String,
    /// Its flags.
    pub options: RunOptions,
    /// Its address on the bridge.
    pub address: Option<std::net::Ipv4Addr>,
    /// The process that runs it and records how it ended.
    pub monitor: Option<ProcessId>,
    /// The container's first process, on the host.
    pub init: Option<ProcessId>,
    /// How it ended: its exit status (128 + N for signal N).
    pub exit_code: Option<i32>,
    /// When it ended.
    pub finished: Option<String>,
    /// Whether the kernel's OOM killer killed a process of it, for want
    /// of memory under `--memory` (lesson 08).
    #[serde(default)]
    pub oom_killed: bool,
}

/// A container's status, as `nslab ps` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Made, not started (or starting).
    Created,
    /// Its process runs.
    Running,
    /// It ended, with this status if it was recorded.
    Exited(Option<i32>),
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Created => f.write_str("created"),
            Status::Running => f.write_str("running"),
            Status::Exited(_) => f.write_str("exited"),
        }
    }
}

impl Container {
    /// A container not yet run: `id`, named `name`, of image `image`
    /// (as asked for) whose id is `image_id`, to run `command`.
    pub fn new(
        id: String,
        name: String,
        image: (String, String),
        command: Vec<String>,
        options: RunOptions,
    ) -> Container {
        Container {
            id,
            name,
            image: image.0,
            image_id: image.1,
            command,
            created: now(),
            options,
            address: None,
            monitor: None,
            init: None,
            exit_code: None,
            finished: None,
            oom_killed: false,
        }
    }

    /// The first 12 hex digits, as `ps` shows ids.
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// Its directory.
    pub fn dir(&self, engine: &Engine) -> PathBuf {
        engine.containers_dir().join(&self.id)
    }

    /// Its status: the kernel's word (is the init alive?), then the
    /// record's.
    pub fn status(&self) -> Status {
        if self.init.is_some_and(|init| init.is_running()) {
            return Status::Running;
        }
        let monitor_alive = self.monitor.is_some_and(|m| m.is_running());
        match (self.exit_code, self.init, monitor_alive) {
            // No init yet: starting.
            (None, None, true) => Status::Created,
            // Its process has ended and its monitor is undoing its network
            // and mount before it records the status: not ended yet, for
            // whoever waits for the record.
            (None, Some(_), true) => Status::Running,
            // Recorded; or never to be, its monitor gone.
            (code, _, _) => Status::Exited(code),
        }
    }

    /// Writes `container.json` with rename(2): readers never see half.
    pub fn save(&self, engine: &Engine) -> Result<(), EngineError> {
        let path = self.dir(engine).join("container.json");
        let temporary = path.with_extension(format!("json.{}", std::process::id()));
        let text = serde_json::to_string_pretty(self).unwrap_or_default();
        fs::write(&temporary, text)
            .and_then(|()| fs::rename(&temporary, &path))
            .map_err(|source| EngineError::File {
                step: "write",
                path,
                source,
            })
    }

    /// Reads container `id`'s record.
    pub fn load(engine: &Engine, id: &str) -> Result<Container, EngineError> {
        let path = engine.containers_dir().join(id).join("container.json");
        let text =
            fs::read_to_string(&path).map_err(|_| EngineError::NoSuchContainer(id.to_string()))?;
        serde_json::from_str(&text).map_err(|e| EngineError::File {
            step: "parse",
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// Every container, oldest first. A directory without a readable
    /// record (a `run` killed while making it) is left out; `rm -f ID`
    /// still removes it.
    pub fn all(engine: &Engine) -> Vec<Container> {
        let mut all: Vec<Container> = fs::read_dir(engine.containers_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                is_id(&name).then(|| Container::load(engine, &name).ok())?
            })
            .collect();
        all.sort_by(|a, b| a.created.cmp(&b.created));
        all
    }
}

/// True for 64 lowercase hex digits.
pub fn is_id(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A new id: 32 random bytes from the kernel's `/dev/urandom`
/// (random(4)), in hex. Never all digits: the runtime keeps ids of
/// digits only for the lessons.
pub fn new_id() -> Result<String, EngineError> {
    loop {
        let mut bytes = [0u8; 32];
        fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .map_err(|source| EngineError::File {
                step: "read random bytes from",
                path: "/dev/urandom".into(),
                source,
            })?;
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        if !id.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(id);
        }
    }
}

/// A name for a container run without `--name`: an adjective and a
/// scientist of namespaces and containers' prehistory, as docker picks
/// them, from the id's first bytes.
pub fn default_name(id: &str) -> String {
    const ADJECTIVES: [&str; 16] = [
        "busy", "calm", "eager", "fond", "gentle", "happy", "keen", "lucid", "merry", "nifty",
        "proud", "quiet", "sharp", "tender", "vivid", "witty",
    ];
    const PEOPLE: [&str; 16] = [
        "bellard",
        "biederman",
        "cantrill",
        "corbet",
        "dennis",
        "hykes",
        "kamp",
        "kerrisk",
        "menage",
        "pike",
        "poettering",
        "ritchie",
        "thompson",
        "torvalds",
        "viro",
        "wirzenius",
    ];
    let nibble = |i: usize| usize::from_str_radix(&id[i..i + 1], 16).unwrap_or(0);
    format!("{}_{}", ADJECTIVES[nibble(0)], PEOPLE[nibble(1)])
}

fn names_dir(engine: &Engine) -> PathBuf {
    engine.containers_dir().join("names")
}

/// Claims `name` for container `id`: symlink(2) `names/NAME -> ID`,
/// which fails if the name exists. A name whose container directory is
/// gone (a killed `run`) is taken back first.
// ANCHOR: claim_name
pub fn claim_name(engine: &Engine, name: &str, id: &str) -> Result<(), EngineError> {
    crate::record::check_name(name).map_err(|e| EngineError::BadFlag {
        flag: "--name",
        value: name.to_string(),
        reason: e.to_string(),
    })?;
    let dir = names_dir(engine);
    fs::create_dir_all(&dir).map_err(|source| EngineError::File {
        step: "make",
        path: dir.clone(),
        source,
    })?;
    let link = dir.join(name);
    match std::os::unix::fs::symlink(id, &link) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let holder = fs::read_link(&link)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            // Held while its record exists: `rm` removes the record
            // last of the container's files, the name after it.
            if engine
                .containers_dir()
                .join(&holder)
                .join("container.json")
                .exists()
            {
                return Err(EngineError::NameInUse {
                    name: name.to_string(),
                    id: holder.get(..12).unwrap_or(&holder).to_string(),
                });
            }
            // A stale name, taken back under a lock on the names
            // directory (flock(2)): two runs that both found it stale
            // must not both remove a link and make their own, the
            // second removing the first one's fresh link.
            let names = fs::File::open(&dir).map_err(|source| EngineError::File {
                step: "open",
                path: dir.clone(),
                source,
            })?;
            let _lock = nix::fcntl::Flock::lock(names, nix::fcntl::FlockArg::LockExclusive)
                .map_err(|(_, errno)| EngineError::File {
                    step: "lock",
                    path: dir.clone(),
                    source: errno.into(),
                })?;
            let still = fs::read_link(&link).map(|p| p.display().to_string()).ok();
            if still.as_deref() == Some(holder.as_str()) {
                let _ = fs::remove_file(&link);
            }
            // Then symlink(2) again, still under the lock: it fails if
            // another run got the name first.
            match std::os::unix::fs::symlink(id, &link) {
                Ok(()) => Ok(()),
                Err(_) => Err(EngineError::NameInUse {
                    name: name.to_string(),
                    id: fs::read_link(&link)
                        .map(|p| p.display().to_string().chars().take(12).collect())
                        .unwrap_or_else(|_| "another run, at the same moment".into()),
                }),
            }
        }
        Err(source) => Err(EngineError::File {
            step: "claim the name",
            path: link,
            source,
        }),
    }
}
// ANCHOR_END: claim_name

/// Gives the name back, if it is still this container's.
pub fn release_name(engine: &Engine, name: &str, id: &str) {
    let link = names_dir(engine).join(name);
    if fs::read_link(&link).is_ok_and(|holder| holder == Path::new(id)) {
        let _ = fs::remove_file(link);
    }
}

/// The container that `what` names: a name, a whole id, or the start of
/// exactly one id.
pub fn resolve(engine: &Engine, what: &str) -> Result<Container, EngineError> {
    if let Ok(id) = fs::read_link(names_dir(engine).join(what)) {
        if let Ok(container) = Container::load(engine, &id.display().to_string()) {
            return Ok(container);
        }
    }
    if is_id(what) {
        return Container::load(engine, what);
    }
    let hex = !what.is_empty() && what.bytes().all(|b| b.is_ascii_hexdigit());
    if hex {
        let fits: Vec<String> = fs::read_dir(engine.containers_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| is_id(id) && id.starts_with(what))
            .collect();
        match fits.as_slice() {
            [one] => return Container::load(engine, one),
            [] => {}
            many => {
                return Err(EngineError::Ambiguous {
                    prefix: what.to_string(),
                    ids: many
                        .iter()
                        .map(|id| &id[..12])
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            }
        }
    }
    Err(EngineError::NoSuchContainer(what.to_string()))
}

/// Now, as RFC 3339 in UTC, like the runtime's `created`.
pub fn now() -> String {
    crate::runtime::state::now_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_checked_before_anything_is_made() {
        let volume: Volume = "/tmp:/data:ro".parse().unwrap();
        assert_eq!(volume.container, Path::new("/data"));
        assert!(volume.read_only);
        assert!(!"/tmp:/data".parse::<Volume>().unwrap().read_only);
        let error = "data:/data".parse::<Volume>().unwrap_err();
        assert!(error.contains("named volumes"), "{error}");
        assert!("/tmp:data".parse::<Volume>().is_err());
        assert!("/tmp:/data:rx".parse::<Volume>().is_err());
        assert!("/tmp:/".parse::<Volume>().unwrap_err().contains("root"));
        assert!("/tmp:/a/../b".parse::<Volume>().is_err());
        assert!("/no/such/dir/here:/data".parse::<Volume>().is_err());
    }

    #[test]
    fn ids_and_default_names() {
        let id = new_id().unwrap();
        assert!(is_id(&id));
        assert!(!is_id("abc"));
        assert_eq!(default_name(&format!("0f{}", &id[2..])), "busy_wirzenius");
    }
}
