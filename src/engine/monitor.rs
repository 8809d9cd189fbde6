//! The monitor: the process that runs one container from start to end.
//!
//! `nslab run -d` returns at once, yet someone must stay: to wait for the
//! container's process and record how it ended, to hold its network
//! address, to forward its published ports, to catch its output in a log.
//! docker has containerd-shim for that, podman has conmon; nslab forks a
//! monitor. Without `-d`, `nslab run` itself is the monitor.
//!
//! ```text
//! nslab run -d ──fork──▶ monitor (setsid, stdout/stderr → log)
//!      │                   │ lease an address, write the init layer
//!      │                   │ mount the overlay on rootfs/, write config.json
//!      │                   │ runtime create  (the init waits on exec.fifo)
//!      │                   │ plug the veth into the init's namespace
//!      │                   │ runtime start
//!      ◀────── "ok" ───────┤
//!   prints the id          │ waitpid(init): the exit status, recorded
//!                          │ runtime delete, unplug, unmount
//! ```
//!
//! The create/start split of the runtime is what makes room for the
//! network: the container's namespaces exist and its program has not run
//! when the monitor plugs it in, so a server never starts without its
//! address: the reason, told in the first half of chapter 12, that
//! `create` and `start` are two commands.

use super::container::{Container, Status};
use super::image::ImageConfig;
use super::{bundle, proxy, Engine, EngineError};
use crate::net::{self, Network, Prepared};
use crate::overlay::Overlay;
use crate::record::ProcessId;
use crate::runtime::{lifecycle, state::Record};
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use std::fs;
use std::path::PathBuf;

/// The directories of a container's root: the overlay's writable layer,
/// its work directory, the init layer, and the mount point.
pub struct Layers {
    /// `upper/`: what the container changed.
    pub upper: PathBuf,
    /// `work/`: overlayfs's own.
    pub work: PathBuf,
    /// `init/`: /etc/hostname, /etc/hosts, /etc/resolv.conf (lesson 10).
    pub init: PathBuf,
    /// `rootfs/`: where the overlay is mounted, the bundle's root.
    pub rootfs: PathBuf,
}

impl Layers {
    /// Container `container`'s.
    pub fn of(engine: &Engine, container: &Container) -> Layers {
        let dir = container.dir(engine);
        Layers {
            upper: dir.join("upper"),
            work: dir.join("work"),
            init: dir.join("init"),
            rootfs: dir.join("rootfs"),
        }
    }
}

/// What a running container holds until it ends: its network and its
/// proxies. Dropped after the container has ended.
struct Held {
    _proxies: Option<proxy::Proxies>,
    _network: Option<Prepared>,
    /// With `-t`: the master end of the container's terminal.
    terminal: Option<std::os::fd::OwnedFd>,
}

/// Runs `container` to its end, and returns its exit status. `started`
/// is called once: with `Ok` when its program runs, or with the error that
/// stopped it first (everything made for it is undone by then).
pub fn supervise(
    engine: &Engine,
    container: &mut Container,
    image: &ImageConfig,
    layer_dirs: Vec<PathBuf>,
    terminal: bool,
    started: &mut dyn FnMut(Result<(), String>),
) -> Result<i32, EngineError> {
    // Signals to the monitor go on to the container (blocked now, taken
    // while waiting), as lesson 00's did.
    let _ = crate::signals::block_for_lesson();
    let launched = launch(engine, container, image, layer_dirs, terminal);
    let (init, mut held) = match launched {
        Ok(launched) => launched,
        Err(error) => {
            finish(engine, container, None);
            started(Err(super::describe(&error)));
            return Err(error);
        }
    };
    started(Ok(()));
    // -t: our terminal raw, its size given to the container's, bytes
    // copied both ways (only out, for -d: into the log).
    let relay = held.terminal.take().map(|master| {
        if !container.options.detach {
            super::console::follow_size(&master);
        }
        let interactive = container.options.interactive && !container.options.detach;
        // Raw even without -i: the container's terminal already turned
        // each "\n" into "\r\n"; ours must not do it a second time.
        let raw = (!container.options.detach).then(super::console::RawMode::enter);
        (super::console::relay(master, interactive), raw)
    });
    // ANCHOR: ended
    // The init is our child: the runtime's `create`, in this process,
    // cloned it from here. So waitpid(2) tells us how it ended.
    let code = match crate::signals::wait_forwarding(init) {
        Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => code,
        Ok(nix::sys::wait::WaitStatus::Signaled(_, signal, _)) => 128 + signal as i32,
        _ => 255,
    };
    if let Some((output, raw)) = relay {
        // The last bytes it wrote, then our terminal as it was.
        let _ = output.join();
        drop(raw);
    }
    container.oom_killed = oom_killed(engine, container);
    // Undone before the status is recorded: whoever waits for the record
    // (`nslab stop`, `rm -f`) finds the network and the mount gone too.
    drop(held);
    finish(engine, container, Some(init));
    container.exit_code = Some(code);
    container.finished = Some(super::container::now());
    container.save(engine)?;
    Ok(code)
    // ANCHOR_END: ended
}

/// Everything up to the program running.
fn launch(
    engine: &Engine,
    container: &mut Container,
    image: &ImageConfig,
    layer_dirs: Vec<PathBuf>,
    terminal: bool,
) -> Result<(Pid, Held), EngineError> {
    // The network first: a bridge's address goes into /etc/hosts.
    let (mode, join) = network_mode(engine, &container.options.network)?;
    // The config first of all: what it refuses (an image whose user is a
    // name) is refused before anything is leased or mounted.
    let config = bundle::config(container, image, join.as_deref(), terminal).map_err(|reason| {
        EngineError::BadFlag {
            flag: "image",
            value: container.image.clone(),
            reason,
        }
    })?;
    let mut prepared = match &mode {
        Some(mode) => Some(net::prepare(mode, &engine.run_dir)?),
        None => None,
    };
    container.address = prepared.as_ref().and_then(Prepared::address);
    container.monitor = ProcessId::of(std::process::id() as i32).ok();
    container.save(engine)?;
    mount_root(engine, container, layer_dirs)?;
    write_config(engine, container, &config)?;
    // Published ports bind before anything runs: a busy port fails here.
    // They are served (threads) only after the runtime has cloned the
    // container's process: the start sequence forks only a process with
    // one thread.
    let bound = match container.options.ports.is_empty() {
        false => Some(proxy::bind(&container.options.ports)?),
        true => None,
    };
    let dir = container.dir(engine);
    check_still_running(engine, container, join.as_deref())?;
    let console = match terminal {
        true => Some(super::console::Console::listen()?),
        false => None,
    };
    let console_path = console.as_ref().map(|c| c.path().to_path_buf());
    // ANCHOR: between
    lifecycle::create(
        &engine.root,
        &container.id,
        &dir,
        None,
        console_path.as_deref(),
    )?;
    // The init made its terminal before it began to wait on its FIFO, and
    // sent the master: taken now, and given our terminal's size before
    // `start`, so that the program's first look at its size is right.
    let terminal = match &console {
        Some(console) => {
            let master = console.receive()?;
            super::console::copy_size(&master);
            Some(master)
        }
        None => None,
    };
    let record = Record::load(&engine.root, &container.id)?;
    let init = Pid::from_raw(record.init.pid);
    container.init = Some(record.init);
    container.save(engine)?;
    // The init waits on its FIFO, in its namespaces: plug it in now.
    if let Some(prepared) = prepared.as_mut() {
        prepared.plug_in(init)?;
        inside_namespace_of(init, prepared)?;
    }
    let proxies = match (bound, container.address) {
        (Some(bound), Some(address)) => Some(bound.serve(address)?),
        _ => None,
    };
    lifecycle::start(&engine.root, &container.id)?;
    // ANCHOR_END: between
    Ok((
        init,
        Held {
            _proxies: proxies,
            _network: prepared,
            terminal,
        },
    ))
}

/// The container's root: lesson 10's init layer written (with the
/// address, if it has one), then the overlay of the init layer over the
/// image's layers, under the container's own layer (lesson 09), mounted
/// on `rootfs/` here, in the engine's mount namespace, as docker mounts
/// it: the runtime finds a directory and pivots into it.
fn mount_root(
    engine: &Engine,
    container: &Container,
    layer_dirs: Vec<PathBuf>,
) -> Result<(), EngineError> {
    let layers = Layers::of(engine, container);
    let host = bundle::hostname(container);
    crate::init_layer::write(&layers.init, &host, container.address)?;
    let mut lower = vec![layers.init.clone()];
    lower.extend(layer_dirs);
    let overlay = Overlay {
        lower,
        upper: layers.upper,
        work: layers.work,
        userxattr: false,
    };
    overlay.mount(&layers.rootfs)?;
    Ok(())
}

/// The bundle's `config.json`, beside `rootfs/`.
fn write_config(
    engine: &Engine,
    container: &Container,
    config: &serde_json::Value,
) -> Result<(), EngineError> {
    let path = container.dir(engine).join("config.json");
    let text = serde_json::to_string_pretty(config).unwrap_or_default();
    fs::write(&path, text).map_err(|source| EngineError::File {
        step: "write",
        path,
        source,
    })
}

/// `container:NAME` joins by pid: checked again just before the clone,
/// so that a pid freed and reused since `join` was worked out is never
/// joined (the check of a process is by pid and start time).
fn check_still_running(
    engine: &Engine,
    container: &Container,
    join: Option<&str>,
) -> Result<(), EngineError> {
    let Some(name) = container.options.network.strip_prefix("container:") else {
        return Ok(());
    };
    let target = super::container::resolve(engine, name)?;
    let now = target
        .init
        .filter(|init| init.is_running())
        .map(|init| format!("/proc/{}/ns/net", init.pid));
    if now.as_deref() == join && join.is_some() {
        return Ok(());
    }
    Err(EngineError::WrongStatus {
        status: target.status().to_string(),
        name: target.name,
        what: "it ended while this container was being made".into(),
    })
}

/// `--net`'s value as lesson 06's [`Network`] for what the monitor must
/// set up itself (`none`, `bridge`), or the path of the namespace to join
/// (`container:NAME`); `host` needs neither.
fn network_mode(
    engine: &Engine,
    text: &str,
) -> Result<(Option<Network>, Option<String>), EngineError> {
    match text {
        "host" => Ok((None, None)),
        "none" => Ok((Some(Network::None), None)),
        "bridge" => Ok((Some(Network::Bridge), None)),
        other => {
            let Some(name) = other.strip_prefix("container:") else {
                return Err(EngineError::BadFlag {
                    flag: "--net",
                    value: other.into(),
                    reason: "use none, host, bridge or container:NAME".into(),
                });
            };
            let target = super::container::resolve(engine, name)?;
            match (target.status(), target.init) {
                (Status::Running, Some(init)) => {
                    Ok((None, Some(format!("/proc/{}/ns/net", init.pid))))
                }
                (status, _) => Err(EngineError::WrongStatus {
                    name: target.name,
                    status: status.to_string(),
                    what: "only a running container's network can be joined".into(),
                }),
            }
        }
    }
}

/// Whether the OOM killer killed in the container's memory cgroup, read
/// before the cgroup goes: the `oom_kill` count of v2's `memory.events`
/// or of v1's `memory.oom_control` (Linux 4.13), as lesson 08 showed.
fn oom_killed(engine: &Engine, container: &Container) -> bool {
    let Ok(record) = Record::load(&engine.root, &container.id) else {
        return false;
    };
    record.cgroup.iter().any(|dir| {
        ["memory.events", "memory.oom_control"].iter().any(|file| {
            fs::read_to_string(dir.join(file))
                .unwrap_or_default()
                .lines()
                .filter_map(|line| line.strip_prefix("oom_kill "))
                .any(|count| count.trim().parse::<u64>().is_ok_and(|n| n > 0))
        })
    })
}

/// Runs lesson 06's inside step (loopback up; for a bridge, `eth0`, its
/// address and route) in the network namespace of `init`, from a thread
/// of this process: setns(2) moves only the calling thread, and the
/// netlink socket the step opens belongs to the namespace it is opened in.
fn inside_namespace_of(init: Pid, prepared: &Prepared) -> Result<(), EngineError> {
    let path = format!("/proc/{init}/ns/net");
    let namespace = fs::File::open(&path).map_err(|source| EngineError::File {
        step: "open the container's network namespace",
        path: path.clone().into(),
        source,
    })?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                nix::sched::setns(&namespace, CloneFlags::CLONE_NEWNET).map_err(|source| {
                    EngineError::Mount {
                        step: "enter (setns) the network namespace",
                        path: path.clone().into(),
                        source,
                    }
                })?;
                prepared.inside().map_err(EngineError::from)
            })
            .join()
            .unwrap_or_else(|_| Err(EngineError::Monitor("the network thread panicked".into())))
    })
}

/// After the container ended (or failed to start): the runtime forgets
/// it (its cgroup goes), and its root is unmounted. The container's own
/// layer stays, for `logs`, `commit` and `rm`.
pub fn finish(engine: &Engine, container: &Container, _init: Option<Pid>) {
    // --force: a running init is killed; a directory without a record (a
    // `create` killed before it wrote one) is removed too.
    let _ = lifecycle::delete(&engine.root, &container.id, true);
    remove_cgroups(&container.id);
    unmount_root(engine, container);
    // Its monitor killed, nobody gave its address back: the lease, its
    // veth end and, if it was the last, the bridge go now.
    let monitor_gone = !container.monitor.is_some_and(|m| m.is_running());
    if container.options.network == "bridge" && monitor_gone {
        let _ = net::release_stale(&engine.run_dir);
    }
}

/// The container's cgroups, `nslab/ID` in every hierarchy, if a killed
/// `create` left them without a record to find them by: their processes
/// killed, the directories removed (lesson 08's teardown).
fn remove_cgroups(id: &str) {
    let base = std::path::Path::new("/sys/fs/cgroup");
    let mut dirs: Vec<PathBuf> = fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("nslab").join(id))
        .collect();
    dirs.push(base.join("nslab").join(id));
    dirs.retain(|dir| dir.is_dir());
    if !dirs.is_empty() {
        if let Ok(cgroup) = crate::cgroup::group::Cgroup::adopt(dirs) {
            drop(cgroup);
        }
    }
}

/// Unmounts the container's root if it is mounted. MNT_DETACH: a process
/// of the host that looks into it (a shell cd'ed there) must not keep
/// `rm` from finishing; the mount goes when the last user leaves.
pub fn unmount_root(engine: &Engine, container: &Container) {
    let rootfs = Layers::of(engine, container).rootfs;
    // The mount table's paths have their spaces escaped (\040):
    // compared once unescaped, as the rootfs module reads them.
    let mountinfo = fs::read("/proc/self/mountinfo").unwrap_or_default();
    let mounted = crate::rootfs::mount_points(&mountinfo).contains(&rootfs);
    if mounted {
        crate::narrate::syscall(format!(
            "umount2({:?}, MNT_DETACH)",
            rootfs.display().to_string()
        ));
        let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
    }
}
