//! OCI hooks: programs an engine asks the runtime to run at fixed points
//! of the lifecycle, each given the container's state JSON on standard
//! input (the OCI runtime spec, "POSIX-platform Hooks"). Engines use them
//! to plug in networks (CNI), GPUs, or to record what ran.
//!
//! | hook | when | where it runs |
//! |---|---|---|
//! | `prestart` (old), `createRuntime` | `create`, the init at its gate | the runtime's namespaces |
//! | `poststart` | `start`, once the program runs | the runtime's |
//! | `poststop` | `delete` | the runtime's |
//!
//! A failing `createRuntime` hook stops the container;
//! a failing `poststart` or `poststop` hook is reported and ignored, as
//! the spec says. `createContainer` and `startContainer`, which run in the
//! container's namespaces, are not done by nslab, and are refused by name.

use super::RuntimeError;
use crate::narrate;
use oci_spec::runtime as oci;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One hook: a program, its arguments (`argv[0]` first) and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The program, absolute.
    pub path: PathBuf,
    /// Its arguments, `argv[0]` first; empty for just the path.
    pub args: Vec<String>,
    /// Its environment, `NAME=value`.
    pub env: Vec<String>,
    /// How long it may take.
    pub timeout: Option<Duration>,
}

/// The hooks of a config.json, by the point they run at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    /// `prestart` and `createRuntime`.
    pub create_runtime: Vec<Hook>,
    /// `poststart`.
    pub poststart: Vec<Hook>,
    /// `poststop`.
    pub poststop: Vec<Hook>,
}

fn read(list: &Option<Vec<oci::Hook>>) -> Vec<Hook> {
    list.iter()
        .flatten()
        .map(|hook| Hook {
            path: hook.path().clone(),
            args: hook.args().clone().unwrap_or_default(),
            env: hook.env().clone().unwrap_or_default(),
            timeout: hook
                .timeout()
                .filter(|t| *t > 0)
                .map(|t| Duration::from_secs(t as u64)),
        })
        .collect()
}

/// The hooks `config` asks for; `createContainer` is refused.
pub fn from_config(config: &oci::Spec) -> Result<Hooks, RuntimeError> {
    let Some(hooks) = config.hooks() else {
        return Ok(Hooks::default());
    };
    for (list, field) in [
        (hooks.create_container(), "hooks.createContainer"),
        (hooks.start_container(), "hooks.startContainer"),
    ] {
        if list.as_deref().is_some_and(|h| !h.is_empty()) {
            return Err(RuntimeError::Unsupported {
                field: field.into(),
                why: "nslab runs hooks in the runtime's namespaces only (createRuntime, poststart, poststop)".into(),
            });
        }
    }
    let mut create_runtime = read(hooks.prestart());
    create_runtime.extend(read(hooks.create_runtime()));
    Ok(Hooks {
        create_runtime,
        poststart: read(hooks.poststart()),
        poststop: read(hooks.poststop()),
    })
}

/// Runs `hook` with `state` (the state JSON) on its standard input, and
/// waits for it, killing it at its timeout. `point` names the hook point
/// for messages.
pub fn run(hook: &Hook, point: &str, state: &str) -> Result<(), RuntimeError> {
    let failed = |why: String| RuntimeError::Hook {
        point: point.to_string(),
        path: hook.path.clone(),
        why,
    };
    narrate::syscall(format!(
        "fork() + execve({:?})   # the {point} hook, the state on its stdin",
        hook.path.display().to_string()
    ));
    let mut command = Command::new(&hook.path);
    if let Some((argv0, rest)) = hook.args.split_first() {
        command.arg0(argv0).args(rest);
    }
    command
        .env_clear()
        .envs(hook.env.iter().filter_map(|e| e.split_once('=')))
        .stdin(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| failed(format!("cannot start it: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its input is not an error.
        let _ = stdin.write_all(state.as_bytes());
    }
    let deadline = hook.timeout.map(|t| Instant::now() + t);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(failed(format!("it ended with {status}"))),
            Ok(None) if deadline.is_some_and(|d| Instant::now() > d) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(
                    "it took longer than its timeout, and was killed".into(),
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(failed(e.to_string())),
        }
    }
}

use std::os::unix::process::CommandExt;
