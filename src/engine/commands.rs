//! The engine's commands, docker's names and flags: each one finds its
//! container, then asks the runtime ([`crate::runtime::lifecycle`]) or the
//! image store ([`super::image`]) to do the work.

use super::container::{self, Container, RunOptions, Status};
use super::image::{ImageConfig, ImageStore};
use super::monitor;
use super::{Engine, EngineError};
use crate::runtime::{exec, lifecycle};
use std::fs;
use std::io::{BufRead, Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// What `nslab run IMAGE [CMD…]` needs besides its flags.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The image, `NAME[:TAG]` or an id.
    pub image: String,
    /// The command, replacing the image's `Cmd`.
    pub args: Vec<String>,
    /// `--name`.
    pub name: Option<String>,
    /// `-t`.
    pub tty: bool,
    /// The rest.
    pub options: RunOptions,
}

/// `nslab run`: makes the container, then runs it here (its exit status
/// becomes ours) or, with `-d`, under a monitor, printing its id.
pub fn run(engine: &Engine, request: RunRequest) -> Result<i32, EngineError> {
    let store = ImageStore::open(&engine.state_dir)?;
    let image = store.find(&request.image).map_err(|error| {
        // runc's habit: `run ID` in a bundle directory. Say how to do that.
        if Path::new("config.json").exists() && request.args.is_empty() {
            EngineError::BadFlag {
                flag: "run",
                value: request.image.clone(),
                reason: format!(
                    "{error}; to run the bundle in this directory as runc does, say \
                     `nslab run --bundle . {}`",
                    request.image
                ),
            }
        } else {
            error.into()
        }
    })?;
    let id = container::new_id()?;
    let name = request
        .name
        .clone()
        .unwrap_or_else(|| container::default_name(&id));
    let mut container = Container::new(
        id.clone(),
        name.clone(),
        (request.image.clone(), image.id.clone()),
        super::bundle::command(&image.config, &request.args),
        request.options.clone(),
    );
    if let Err(error) = make_dirs(engine, &container) {
        let _ = fs::remove_dir_all(container.dir(engine));
        return Err(error);
    }
    // The record before the name: a name is held while its holder's
    // record exists, so one claimed before it would look stale to a
    // second `run --name` racing this one.
    let claimed = container
        .save(engine)
        .and_then(|()| claim(engine, &mut container, request.name.is_some()))
        .and_then(|()| container.save(engine));
    if let Err(error) = claimed {
        // Nothing is mounted yet; the name, if claimed, is not given back
        // here: `release_name` would, but only while it is still ours.
        let _ = fs::remove_dir_all(container.dir(engine));
        container::release_name(engine, &container.name, &container.id);
        return Err(error);
    }
    let layers = store.layer_dirs(&image);
    if container.options.detach {
        return detach(engine, container, &image.config, layers, request.tty);
    }
    if !container.options.interactive {
        // Without -i the program's standard input is empty, as docker's.
        let _ = redirect(0, "/dev/null", false);
    }
    let result = monitor::supervise(
        engine,
        &mut container,
        &image.config,
        layers,
        request.tty,
        &mut |_| {},
    );
    if container.options.remove || result.is_err() {
        if let Err(error) = remove(engine, &container) {
            eprintln!("nslab: {}", super::describe(&error));
        }
    }
    result
}

/// The container's directory and its layers' directories.
fn make_dirs(engine: &Engine, container: &Container) -> Result<(), EngineError> {
    let layers = monitor::Layers::of(engine, container);
    for dir in [&layers.upper, &layers.work, &layers.init, &layers.rootfs] {
        fs::create_dir_all(dir).map_err(|source| EngineError::File {
            step: "make",
            path: dir.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Claims the container's name; a generated name that is taken gets the
/// short id added, a chosen one is an error.
fn claim(engine: &Engine, container: &mut Container, chosen: bool) -> Result<(), EngineError> {
    match container::claim_name(engine, &container.name, &container.id) {
        Err(EngineError::NameInUse { .. }) if !chosen => {
            container.name = format!("{}_{}", container.name, &container.id[..6]);
            container::claim_name(engine, &container.name, &container.id)
        }
        other => other,
    }
}

/// `run -d`: forks the monitor, which leaves this session and writes the
/// container's output to its log; waits for its word that the program
/// runs (or why not), prints the id, and returns.
// ANCHOR: detach
fn detach(
    engine: &Engine,
    mut container: Container,
    image: &ImageConfig,
    layers: Vec<std::path::PathBuf>,
    tty: bool,
) -> Result<i32, EngineError> {
    // pipe2(2): the monitor's one line back, "ok" or why not.
    let (read_end, write_end) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(ends) => ends,
        Err(e) => {
            let _ = remove(engine, &container);
            return Err(EngineError::Monitor(format!("pipe: {e}")));
        }
    };
    let log = container.dir(engine).join("log");
    // SAFETY: the engine is single-threaded here; the child goes on with
    // ordinary Rust code, as lesson 00's children do. fork(2).
    match unsafe { nix::unistd::fork() } {
        Err(e) => {
            let _ = remove(engine, &container);
            Err(EngineError::Monitor(format!("fork: {e}")))
        }
        Ok(nix::unistd::ForkResult::Child) => {
            drop(read_end);
            // Its own session: the terminal's Ctrl-C and hang-up are not
            // for it (setsid(2)).
            let _ = nix::unistd::setsid();
            let _ = redirect(0, "/dev/null", false);
            let logged = redirect(1, &log.display().to_string(), true)
                .and_then(|()| redirect(2, &log.display().to_string(), true));
            // Said once, then closed: `nslab run -d` reads one line.
            let mut word = Some(fs::File::from(write_end));
            let mut said = |result: Result<(), String>| {
                let line = match result {
                    Ok(()) => "ok".to_string(),
                    Err(error) => error,
                };
                if let Some(mut pipe) = word.take() {
                    let _ = writeln!(pipe, "{line}");
                }
            };
            if let Err(error) = logged {
                said(Err(format!("its log {}: {error}", log.display())));
                let _ = remove(engine, &container);
                // SAFETY: nothing to unwind in this child.
                unsafe { libc::_exit(1) }
            }
            let _ = monitor::supervise(engine, &mut container, image, layers, tty, &mut said);
            if container.options.remove {
                if let Err(error) = remove(engine, &container) {
                    eprintln!("nslab: {}", super::describe(&error));
                }
            }
            // SAFETY: the monitor's work is done; nothing to unwind.
            unsafe { libc::_exit(0) }
        }
        Ok(nix::unistd::ForkResult::Parent { .. }) => {
            drop(write_end);
            // One line: "ok", or the error. Not to the end: the monitor
            // keeps running for as long as the container does.
            let mut word = String::new();
            let _ = std::io::BufReader::new(fs::File::from(read_end)).read_line(&mut word);
            match word.lines().next() {
                Some("ok") => {
                    println!("{}", container.id);
                    Ok(0)
                }
                other => {
                    let _ = remove(engine, &container);
                    Err(EngineError::Monitor(
                        other
                            .unwrap_or("its monitor died before it said whether it started")
                            .to_string(),
                    ))
                }
            }
        }
    }
}
// ANCHOR_END: detach

/// Opens `path` onto descriptor `fd` (dup2(2)).
fn redirect(fd: i32, path: &str, append: bool) -> std::io::Result<()> {
    let file = fs::OpenOptions::new()
        .read(!append)
        .append(append)
        .create(append)
        .open(path)?;
    nix::unistd::dup2(file.as_raw_fd(), fd)?;
    Ok(())
}

/// Removes everything a container has: the runtime's record and cgroup,
/// its root's mount, its directory (never through a mount point), its
/// name. Its process must have ended.
fn remove(engine: &Engine, container: &Container) -> Result<(), EngineError> {
    monitor::finish(engine, container, None);
    let dir = container.dir(engine);
    // Everything but the record first, the record last, then the name: a
    // `rm` killed half-way leaves a container that `rm` still finds.
    let record = dir.join("container.json");
    let entries = fs::read_dir(&dir).into_iter().flatten().flatten();
    for path in entries.map(|entry| entry.path()).filter(|p| *p != record) {
        let removed = if path.is_dir() && !path.is_symlink() {
            crate::rootfs::remove_tree(&path).map_err(|e| std::io::Error::other(e.to_string()))
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(|source| EngineError::File {
            step: "remove (the container stays listed: fix this, then `nslab rm` it again)",
            path: path.clone(),
            source,
        })?;
    }
    let _ = fs::remove_file(&record);
    let _ = fs::remove_dir(&dir);
    container::release_name(engine, &container.name, &container.id);
    Ok(())
}

/// A directory under `containers/` with no readable record (a `run`
/// killed while it made it): a record just good enough for [`remove`].
fn orphan(engine: &Engine, id: &str) -> Option<Container> {
    let dir = engine.containers_dir().join(id);
    (container::is_id(id) && dir.is_dir() && !dir.join("container.json").exists()).then(|| {
        Container::new(
            id.to_string(),
            String::new(),
            (String::new(), String::new()),
            Vec::new(),
            RunOptions::default(),
        )
    })
}

/// Prints `line`; a reader that went away (`| head -1`) is not an error
/// worth stopping a `rm` of several containers half-way for.
fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// Runs `each` for every name, going on after an error as docker does;
/// the errors are reported, and the exit status is 1 if there was one.
fn for_each_name(
    names: &[String],
    mut each: impl FnMut(&str) -> Result<(), EngineError>,
) -> Result<i32, EngineError> {
    let mut failed = 0;
    for name in names {
        match each(name) {
            Ok(()) => say(name),
            Err(error) => {
                failed += 1;
                eprintln!("nslab: {}", super::describe(&error));
            }
        }
    }
    Ok(i32::from(failed > 0))
}

/// Stops a starting container's monitor (SIGKILL, by its pid and start
/// time: never another process that got the pid since) and waits for it.
fn kill_monitor(container: &Container) {
    if let Some(monitor) = container.monitor.filter(|m| m.is_running()) {
        let pid = nix::unistd::Pid::from_raw(monitor.pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(5);
        while monitor.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// `nslab ps [-a] [-q]`: running containers, or all of them; `-q`: their
/// short ids only.
pub fn ps(engine: &Engine, all: bool, quiet: bool) -> Result<i32, EngineError> {
    if quiet {
        for container in Container::all(engine) {
            if all || container.status() == Status::Running {
                println!("{}", container.short_id());
            }
        }
        return Ok(0);
    }
    println!(
        "{:<12}  {:<16}  {:<20}  {:<20}  {:<18}  NAMES",
        "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS"
    );
    for container in Container::all(engine) {
        let status = container.status();
        if !all && status != Status::Running {
            continue;
        }
        let words = match status {
            Status::Running => "Up".to_string(),
            Status::Created => "Created".to_string(),
            Status::Exited(Some(code)) if container.oom_killed => {
                format!("Exited ({code}) OOM")
            }
            Status::Exited(Some(code)) => format!("Exited ({code})"),
            Status::Exited(None) => "Exited (unknown)".to_string(),
        };
        let mut command = format!("{:?}", container.command.join(" "));
        if command.chars().count() > 20 {
            command = command.chars().take(16).collect::<String>() + "...\"";
        }
        println!(
            "{:<12}  {:<16}  {:<20}  {:<20}  {:<18}  {}",
            container.short_id(),
            container.image,
            command,
            container.created.get(..19).unwrap_or(&container.created),
            words,
            container.name
        );
    }
    Ok(0)
}

/// `nslab logs [-f] NAME`: what a detached container wrote; with `-f`,
/// and what it writes, until it ends.
pub fn logs(engine: &Engine, name: &str, follow: bool) -> Result<i32, EngineError> {
    let container = container::resolve(engine, name)?;
    let path = container.dir(engine).join("log");
    let mut file = fs::File::open(&path).map_err(|_| EngineError::WrongStatus {
        name: container.name.clone(),
        status: container.status().to_string(),
        what: "it has no log: it ran in the foreground (run -d keeps a log)".into(),
    })?;
    let mut out = std::io::stdout();
    loop {
        let mut chunk = Vec::new();
        let _ = file.read_to_end(&mut chunk);
        let _ = out.write_all(&chunk);
        let _ = out.flush();
        if !follow {
            return Ok(0);
        }
        // Read once more after it ended: what it wrote last.
        let running = container::resolve(engine, name)
            .map(|c| c.status() == Status::Running)
            .unwrap_or(false);
        if !running {
            let mut rest = Vec::new();
            let _ = file.read_to_end(&mut rest);
            let _ = out.write_all(&rest);
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `container` no longer runs, up to `limit`.
fn wait_ended(engine: &Engine, container: &Container, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let now = Container::load(engine, &container.id).unwrap_or_else(|_| container.clone());
        if now.status() != Status::Running {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Waits (briefly) for the monitor to record the exit status.
fn wait_recorded(engine: &Engine, container: &Container) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        match Container::load(engine, &container.id) {
            Ok(now) if now.exit_code.is_some() => return,
            Ok(now) if !now.monitor.is_some_and(|m| m.is_running()) => return,
            Err(_) => return,
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// `nslab stop [-t SECS] NAME…`: SIGTERM, then SIGKILL after the grace
/// period, as docker does. A program that is PID 1 of its namespace and
/// has no TERM handler ignores TERM (lesson 02): it is the KILL that
/// ends it, after the grace period; `--init` makes TERM work.
// ANCHOR: stop
pub fn stop(engine: &Engine, names: &[String], grace: u64) -> Result<i32, EngineError> {
    for_each_name(names, |name| {
        let container = container::resolve(engine, name)?;
        if container.status() == Status::Running {
            let _ = lifecycle::kill(&engine.root, &container.id, "TERM", false);
            if !wait_ended(engine, &container, Duration::from_secs(grace)) {
                let _ = lifecycle::kill(&engine.root, &container.id, "KILL", true);
                wait_ended(engine, &container, Duration::from_secs(5));
            }
            wait_recorded(engine, &container);
        }
        // Its monitor gone (killed), nobody undid its mount and cgroup.
        let now = Container::load(engine, &container.id).unwrap_or(container);
        if !now.monitor.is_some_and(|m| m.is_running()) {
            monitor::finish(engine, &now, None);
        }
        Ok(())
    })
}
// ANCHOR_END: stop

/// `nslab kill NAME [SIGNAL]`: the runtime's kill, by the engine's name.
pub fn kill(engine: &Engine, name: &str, signal: &str) -> Result<i32, EngineError> {
    let container = container::resolve(engine, name)?;
    if container.status() != Status::Running {
        return Err(EngineError::WrongStatus {
            status: container.status().to_string(),
            name: container.name,
            what: "only a running container can be sent a signal".into(),
        });
    }
    lifecycle::kill(&engine.root, &container.id, signal, false)?;
    say(name);
    Ok(0)
}

/// `nslab rm [-f] NAME…`: removes stopped containers; `-f` kills running
/// ones first.
pub fn rm(engine: &Engine, names: &[String], force: bool) -> Result<i32, EngineError> {
    for_each_name(names, |name| {
        let container = match container::resolve(engine, name) {
            Ok(container) => container,
            // `rm -f ID` of what a killed `run` left without a record.
            Err(error) => match orphan(engine, name).filter(|_| force) {
                Some(orphan) => return remove(engine, &orphan),
                None => return Err(error),
            },
        };
        let status = container.status();
        if status == Status::Running || status == Status::Created {
            if !force {
                return Err(EngineError::WrongStatus {
                    name: container.name,
                    status: status.to_string(),
                    what: "a running or starting container is not removed without -f".into(),
                });
            }
            if status == Status::Created {
                // Starting: its monitor would go on making what rm removes.
                kill_monitor(&container);
            }
            let _ = lifecycle::kill(&engine.root, &container.id, "KILL", true);
            wait_ended(engine, &container, Duration::from_secs(5));
            wait_recorded(engine, &container);
        }
        let now = Container::load(engine, &container.id).unwrap_or(container);
        remove(engine, &now)
    })
}

/// `nslab exec [-i] [-d] [-e] [-w] NAME CMD…`: the runtime's exec (every
/// namespace of the container, and its cgroup), by the engine's name.
pub fn exec(
    engine: &Engine,
    name: &str,
    mut request: exec::ExecRequest,
) -> Result<i32, EngineError> {
    let container = container::resolve(engine, name)?;
    if container.status() != Status::Running {
        return Err(EngineError::WrongStatus {
            status: container.status().to_string(),
            name: container.name,
            what: "exec needs a running container: `nslab ps -a` shows how it ended".into(),
        });
    }
    if request.args.is_empty() && request.process_file.is_none() {
        request.args = vec!["sh".into()];
    }
    if request.tty && request.console_socket.is_none() {
        return exec_with_terminal(engine, &container, request);
    }
    Ok(exec::exec(&engine.root, &container.id, &request)?)
}

/// `exec -t`: the runtime's exec runs in a child of ours, which waits for
/// the process; we receive its terminal's master and relay it. A child,
/// not a thread: the runtime's exec forks, and a process that forks
/// should have one thread.
fn exec_with_terminal(
    engine: &Engine,
    container: &Container,
    mut request: exec::ExecRequest,
) -> Result<i32, EngineError> {
    let console = super::console::Console::listen()?;
    request.console_socket = Some(console.path().to_path_buf());
    request.console_size = super::console::our_size();
    // SAFETY: single-threaded here; the child runs ordinary code and exits.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(EngineError::Monitor(format!("fork: {e}"))),
        Ok(nix::unistd::ForkResult::Child) => {
            let code = match exec::exec(&engine.root, &container.id, &request) {
                Ok(code) => code,
                Err(error) => {
                    eprintln!("nslab: {}", super::describe(&error.into()));
                    126
                }
            };
            // SAFETY: its work is done; the parent owns the socket file.
            unsafe { libc::_exit(code) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
            // The master, unless the child failed before it connected
            // (it then said why on our standard error): waiting for it
            // alone would wait for ever.
            let mut ended = None;
            let master = loop {
                match console.try_receive() {
                    Ok(Some(master)) => break Some(master),
                    Ok(None) => {}
                    Err(error) => {
                        eprintln!("nslab: {}", super::describe(&error));
                        break None;
                    }
                }
                match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(2)),
                    status => {
                        ended = Some(status);
                        break None;
                    }
                }
            };
            let relayed = master.map(|master| {
                super::console::copy_size(&master);
                super::console::follow_size(&master);
                let raw = super::console::RawMode::enter();
                (super::console::relay(master, true), raw)
            });
            let status = ended.unwrap_or_else(|| waitpid(child, None));
            let code = match status {
                Ok(WaitStatus::Exited(_, code)) => code,
                Ok(WaitStatus::Signaled(_, signal, _)) => 128 + signal as i32,
                _ => 255,
            };
            if let Some((output, raw)) = relayed {
                let _ = output.join();
                drop(raw);
            }
            Ok(code)
        }
    }
}

/// `nslab inspect NAME`: the record, and what the kernel says now.
pub fn inspect(engine: &Engine, name: &str) -> Result<i32, EngineError> {
    let container = container::resolve(engine, name)?;
    let mut json = serde_json::to_value(&container).unwrap_or_default();
    let status = container.status();
    json["State"] = serde_json::json!({
        "Status": status.to_string(),
        "Running": status == Status::Running,
        "Pid": container.init.filter(|_| status == Status::Running).map(|p| p.pid).unwrap_or(0),
        "ExitCode": container.exit_code,
        "OOMKilled": container.oom_killed,
    });
    json["Rootfs"] = serde_json::json!(monitor::Layers::of(engine, &container).rootfs);
    println!(
        "{}",
        serde_json::to_string_pretty(&json).unwrap_or_default()
    );
    Ok(0)
}

/// `nslab commit NAME [IMAGE]`: the container's own layer becomes an
/// image's top layer. Its init layer is not in it: that is a layer of its
/// own, below (lesson 10), so the next container gets its own
/// /etc/hostname and /etc/hosts.
pub fn commit(engine: &Engine, name: &str, reference: Option<&str>) -> Result<i32, EngineError> {
    let container = container::resolve(engine, name)?;
    let store = ImageStore::open(&engine.state_dir)?;
    let parent = store.find(&container.image_id)?;
    let config_file = container.dir(engine).join("config.json");
    let process: serde_json::Value = fs::read_to_string(&config_file)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .map(|config| config["process"].clone())
        .unwrap_or_default();
    let env: Vec<String> = process["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e.as_str().map(String::from))
        .filter(|e| !e.starts_with("HOSTNAME="))
        .collect();
    let config = ImageConfig {
        env: if env.is_empty() {
            parent.config.env.clone()
        } else {
            env
        },
        // Entrypoint and Cmd as the container had them: its command is
        // the image's entrypoint followed by its Cmd (bundle::command).
        cmd: container
            .command
            .strip_prefix(parent.config.entrypoint.as_slice())
            .unwrap_or(&container.command)
            .to_vec(),
        entrypoint: parent.config.entrypoint.clone(),
        working_dir: process["cwd"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| parent.config.working_dir.clone()),
        user: container
            .options
            .user
            .map(|(u, g)| format!("{u}:{g}"))
            .unwrap_or_else(|| parent.config.user.clone()),
    };
    let upper = monitor::Layers::of(engine, &container).upper;
    let image = store.commit(&upper, &parent, config, reference)?;
    println!("{}", image.id);
    Ok(0)
}

/// Image ids in use, with the container using each, for `image rm`.
pub fn images_in_use(engine: &Engine) -> Vec<(String, String)> {
    Container::all(engine)
        .into_iter()
        .map(|c| (c.name, c.image_id))
        .collect()
}

/// `nslab image ls`.
pub fn image_ls(engine: &Engine) -> Result<i32, EngineError> {
    let store = ImageStore::open(&engine.state_dir)?;
    println!(
        "{:<24}  {:<12}  {:<8}  {:<20}  SIZE",
        "NAME", "IMAGE ID", "LAYERS", "CREATED"
    );
    for image in store.list()? {
        let short = image.id.trim_start_matches("sha256:");
        let names = if image.names.is_empty() {
            vec!["<none>".to_string()]
        } else {
            image.names.clone()
        };
        for name in names {
            println!(
                "{:<24}  {:<12}  {:<8}  {:<20}  {:.1} MB",
                name,
                short.get(..12).unwrap_or(short),
                image.layers.len(),
                image.created.get(..19).unwrap_or(&image.created),
                image.size as f64 / 1e6
            );
        }
    }
    Ok(0)
}

/// `nslab image import FILE [NAME[:TAG]]`.
pub fn image_import(
    engine: &Engine,
    file: &Path,
    reference: Option<&str>,
) -> Result<i32, EngineError> {
    let store = ImageStore::open(&engine.state_dir)?;
    let image = store.import(file, reference)?;
    println!("{}", image.id);
    Ok(0)
}

/// `nslab image rm NAME…`.
pub fn image_rm(engine: &Engine, references: &[String]) -> Result<i32, EngineError> {
    let store = ImageStore::open(&engine.state_dir)?;
    let in_use = images_in_use(engine);
    let mut failed = false;
    for reference in references {
        match store.remove(reference, &in_use) {
            // Another name still holds it: only this name went.
            Ok(image) if store.find(&image.id).is_ok() => say(&format!("Untagged: {reference}")),
            Ok(image) => say(&format!("Deleted: {}", image.id)),
            Err(error) => {
                failed = true;
                eprintln!("nslab: {}", super::describe(&error.into()));
            }
        }
    }
    Ok(i32::from(failed))
}
