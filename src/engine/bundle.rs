//! The `config.json` the engine writes for each container: the runtime's
//! default ([`crate::runtime::config::default_config`], runc's shape),
//! changed by the image's config and `nslab run`'s flags, field by field.
//!
//! | flag or image field | config.json |
//! |---|---|
//! | `CMD…`, the image's `Entrypoint`/`Cmd` | `process.args` |
//! | `-e`, the image's `Env` | `process.env` |
//! | `-w`, `WorkingDir` | `process.cwd` |
//! | `-u`, `User` | `process.user` |
//! | `-t` | `process.terminal`, and `process.consoleSize` from our terminal |
//! | `--hostname` (the short id otherwise) | `hostname` |
//! | `-v` | `mounts[]`, a `bind` |
//! | `--net host` / `container:NAME` | `linux.namespaces`: no `network`, or one with a `path` |
//! | `--memory`, `--cpus`, `--pids-limit` | `linux.resources` |
//! | `--init` | the annotation [`crate::tiny_init::ANNOTATION`] |
//! | (always), `--security-opt seccomp=unconfined` | the annotation [`crate::lockdown::seccomp::ANNOTATION`]: lesson 11's filter, or none |
//!
//! The root is the overlay the engine mounted on `rootfs/`, writable: the
//! container's changes go to its own layer, not the image.

use super::container::{Container, RunOptions};
use super::image::ImageConfig;
use serde_json::{json, Value};

/// docker's default `PATH`, for images that set none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the container runs: `CMD…` from the command line replaces the
/// image's `Cmd`; the image's `Entrypoint` goes first either way; with
/// neither, `sh` (an exported tarball has no config to say).
// ANCHOR: command
pub fn command(image: &ImageConfig, args: &[String]) -> Vec<String> {
    let cmd = if args.is_empty() {
        image.cmd.clone()
    } else {
        args.to_vec()
    };
    let mut command = image.entrypoint.clone();
    command.extend(cmd);
    if command.is_empty() {
        command.push("sh".into());
    }
    command
}
// ANCHOR_END: command

/// The environment: `PATH` (the image's or docker's), the image's `Env`,
/// `HOSTNAME`, then `-e`, a later `NAME=` replacing an earlier one.
pub fn environment(image: &ImageConfig, hostname: &str, extra: &[String]) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    let mut set = |entry: &str| {
        let name = entry.split('=').next().unwrap_or(entry);
        env.retain(|e| e.split('=').next() != Some(name));
        env.push(entry.to_string());
    };
    set(DEFAULT_PATH);
    for entry in &image.env {
        set(entry);
    }
    set(&format!("HOSTNAME={hostname}"));
    for entry in extra {
        // `-e NAME` alone passes the engine's own value, as docker does.
        if entry.contains('=') {
            set(entry);
        } else if let Ok(value) = std::env::var(entry) {
            set(&format!("{entry}={value}"));
        }
    }
    env
}

/// `-u UID[:GID]`, or an image's `User`: numbers only (a name would need
/// the image's `/etc/passwd`).
pub fn parse_user(text: &str) -> Result<(u32, u32), String> {
    let number = |part: &str| match part.parse::<u32>() {
        // (uid_t) -1 tells setresuid(2) to leave the id as it is: the
        // program would stay root.
        Ok(u32::MAX) => Err(format!(
            "{part} is -1 to the kernel, which means \"unchanged\": the program would stay root"
        )),
        Ok(id) => Ok(id),
        Err(_) => Err(format!(
            "{part:?} is not a number: nslab takes UID[:GID] in numbers, not names"
        )),
    };
    match text.split_once(':') {
        Some((uid, gid)) => Ok((number(uid)?, number(gid)?)),
        None => Ok((number(text)?, number(text)?)),
    }
}

/// The container's hostname: `--hostname`, or the short id, as docker's.
pub fn hostname(container: &Container) -> String {
    container
        .options
        .hostname
        .clone()
        .unwrap_or_else(|| container.short_id().to_string())
}

/// The config.json for `container`, from `image`'s config. `net_path` is
/// the network namespace to join (`--net container:NAME`).
pub fn config(
    container: &Container,
    image: &ImageConfig,
    net_path: Option<&str>,
    terminal: bool,
) -> Result<Value, String> {
    let options: &RunOptions = &container.options;
    let mut config = serde_json::to_value(crate::runtime::config::default_config())
        .map_err(|e| e.to_string())?;
    let host = hostname(container);
    config["root"] = json!({"path": "rootfs", "readonly": false});
    config["hostname"] = json!(host);
    let process = &mut config["process"];
    process["args"] = json!(container.command);
    process["env"] = json!(environment(image, &host, &options.env));
    process["terminal"] = json!(terminal);
    // The new terminal starts with the size of ours, if we have one.
    if let Some((rows, columns)) = terminal.then(super::console::our_size).flatten() {
        process["consoleSize"] = json!({"height": rows, "width": columns});
    }
    let cwd = options
        .workdir
        .clone()
        .or_else(|| Some(image.working_dir.clone()).filter(|w| !w.is_empty()))
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(format!("the working directory {cwd:?} must be absolute"));
    }
    process["cwd"] = json!(cwd);
    let user = match (options.user, image.user.as_str()) {
        (Some(user), _) => user,
        (None, "") => (0, 0),
        (None, text) => parse_user(text).map_err(|e| format!("the image's User: {e}"))?,
    };
    process["user"] = json!({"uid": user.0, "gid": user.1});
    // docker's default capabilities, the ones lesson 11 keeps, rather
    // than runc's three: what a program run with docker expects to have.
    let caps: Vec<String> = crate::lockdown::capabilities::DEFAULT
        .iter()
        .map(|c| c.to_string())
        .collect();
    process["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    // No rlimits: the container keeps the engine's own, as docker's keep
    // dockerd's, rather than the RLIMIT_NOFILE 1024 of `nslab spec`
    // (runc's), which a server with many connections outgrows.
    process["rlimits"] = json!([]);
    let mounts = config["mounts"].as_array_mut().ok_or("no mounts")?;
    for volume in &options.volumes {
        let mode = if volume.read_only { "ro" } else { "rw" };
        mounts.push(json!({
            "destination": volume.container, "type": "bind",
            "source": volume.host, "options": ["rbind", mode],
        }));
    }
    let linux = &mut config["linux"];
    let namespaces = linux["namespaces"].as_array_mut().ok_or("no namespaces")?;
    match (options.network.as_str(), net_path) {
        ("host", _) => namespaces.retain(|ns| ns["type"] != "network"),
        (_, Some(path)) => {
            for ns in namespaces.iter_mut().filter(|ns| ns["type"] == "network") {
                ns["path"] = json!(path);
            }
        }
        _ => {}
    }
    let mut resources = json!({"devices": []});
    if let Some(bytes) = options.memory {
        resources["memory"] = json!({"limit": bytes});
    }
    if let Some(cpus) = options.cpus {
        resources["cpu"] = json!({"quota": (cpus * 100_000.0).round() as i64, "period": 100_000});
    }
    if let Some(pids) = options.pids_limit {
        resources["pids"] = json!({"limit": pids});
    }
    linux["resources"] = resources;
    linux["cgroupsPath"] = json!(format!("/nslab/{}", container.id));
    // Lesson 11's seccomp filter, unless --security-opt seccomp=unconfined;
    // the tiny init with --init. The OCI config has a field for neither
    // (its seccomp field is a whole profile): annotations of nslab's own.
    let seccomp = if options.unconfined {
        "unconfined"
    } else {
        "default"
    };
    let mut annotations = json!({crate::lockdown::seccomp::ANNOTATION: seccomp});
    if options.init {
        annotations[crate::tiny_init::ANNOTATION] = json!("true");
    }
    config["annotations"] = annotations;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_replaces_cmd_and_follows_the_entrypoint() {
        let image = ImageConfig {
            entrypoint: vec!["/entry".into()],
            cmd: vec!["serve".into()],
            ..ImageConfig::default()
        };
        assert_eq!(command(&image, &[]), ["/entry", "serve"]);
        assert_eq!(command(&image, &["debug".into()]), ["/entry", "debug"]);
        assert_eq!(command(&ImageConfig::default(), &[]), ["sh"]);
    }

    #[test]
    fn later_environment_entries_win() {
        let image = ImageConfig {
            env: vec!["PATH=/opt/bin".into(), "A=1".into()],
            ..ImageConfig::default()
        };
        let env = environment(&image, "h", &["A=2".into(), "B=3".into()]);
        assert_eq!(env, ["PATH=/opt/bin", "HOSTNAME=h", "A=2", "B=3"]);
    }

    #[test]
    fn users_are_numbers() {
        assert_eq!(parse_user("1000").unwrap(), (1000, 1000));
        assert_eq!(parse_user("1000:50").unwrap(), (1000, 50));
        assert!(parse_user("nobody").unwrap_err().contains("numbers"));
        assert!(parse_user("4294967295").unwrap_err().contains("unchanged"));
        assert!(parse_user("0:4294967295").is_err());
    }
}
