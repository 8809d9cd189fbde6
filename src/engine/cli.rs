//! `nslab run`'s docker flags, checked as they are parsed.

use super::commands::RunRequest;
use super::container::{RunOptions, Volume};
use super::proxy::Published;
use crate::cgroup::limits;

/// docker's `run` flags, where nslab has the feature.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RunArgs {
    /// Run it in the background under a monitor, and print its id
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Remove the container when it ends
    #[arg(long)]
    pub rm: bool,
    /// A name for the container (otherwise one is made up)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Keep standard input open: the program reads what you type
    #[arg(long, short = 'i')]
    pub interactive: bool,
    /// Give it a terminal of its own, relayed to yours (-it for a shell)
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Its hostname (its short id otherwise)
    #[arg(long, value_name = "NAME", value_parser = parse_hostname)]
    pub hostname: Option<String>,
    /// Its network: none, host, bridge, or container:NAME
    #[arg(long, alias = "network", value_name = "MODE", default_value = "bridge")]
    pub net: String,
    /// Publish a port: [IP:]HOSTPORT:CTRPORT (bridge only); repeat for more
    #[arg(long = "publish", short = 'p', value_name = "HOSTPORT:CTRPORT")]
    pub publish: Vec<Published>,
    /// Bind a host directory: HOSTDIR:CTRDIR[:ro]; repeat for more
    #[arg(long = "volume", short = 'v', value_name = "HOSTDIR:CTRDIR[:ro]")]
    pub volume: Vec<Volume>,
    /// Set an environment variable: NAME=value; repeat for more
    #[arg(long = "env", short = 'e', value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// Its working directory (absolute)
    #[arg(long = "workdir", short = 'w', value_name = "DIR", value_parser = parse_workdir)]
    pub workdir: Option<String>,
    /// Run as UID[:GID] (numbers)
    #[arg(long, short = 'u', value_name = "UID[:GID]", value_parser = parse_user)]
    pub user: Option<(u32, u32)>,
    /// A memory limit: 64m, 1g…
    #[arg(long, short = 'm', value_name = "BYTES", value_parser = parse_memory)]
    pub memory: Option<u64>,
    /// A CPU limit: 0.5 is half a CPU
    #[arg(long, value_name = "N", value_parser = parse_cpus)]
    pub cpus: Option<f64>,
    /// At most this many processes at once
    #[arg(long, value_name = "N", value_parser = parse_pids)]
    pub pids_limit: Option<u64>,
    /// Run a tiny init as PID 1, which reaps orphans and passes signals on
    #[arg(long)]
    pub init: bool,
    /// seccomp=unconfined: leave out lesson 11's seccomp filter (the only option known)
    #[arg(long, value_name = "OPTION", value_parser = parse_security_opt)]
    pub security_opt: Vec<String>,
}

fn parse_security_opt(text: &str) -> Result<String, String> {
    match text {
        "seccomp=unconfined" => Ok(text.to_string()),
        _ => Err(format!(
            "{text:?}: nslab knows only seccomp=unconfined (lesson 11's filter is on otherwise)"
        )),
    }
}

fn parse_hostname(text: &str) -> Result<String, String> {
    crate::uts::parse_hostname(text).map_err(|e| e.to_string())
}

fn parse_workdir(text: &str) -> Result<String, String> {
    if text.starts_with('/') {
        Ok(text.to_string())
    } else {
        Err(format!(
            "{text:?} is relative: give the directory's path inside, from /"
        ))
    }
}

fn parse_user(text: &str) -> Result<(u32, u32), String> {
    super::bundle::parse_user(text)
}

fn parse_memory(text: &str) -> Result<u64, String> {
    limits::parse_memory(text).map_err(|e| e.to_string())
}

fn parse_cpus(text: &str) -> Result<f64, String> {
    limits::parse_cpus(text).map_err(|e| e.to_string())?;
    text.trim().parse().map_err(|_| "not a number".to_string())
}

fn parse_pids(text: &str) -> Result<u64, String> {
    limits::parse_pids(text).map_err(|e| e.to_string())
}

impl RunArgs {
    /// The first engine-only flag given, for the runtime's form to refuse.
    pub fn engine_flag(&self) -> Option<&'static str> {
        let defaults = RunArgs {
            net: "bridge".into(),
            ..RunArgs::default()
        };
        let checks: [(&'static str, bool); 17] = [
            ("-d", self.detach),
            ("--rm", self.rm),
            ("--name", self.name.is_some()),
            ("-i", self.interactive),
            ("-t", self.tty),
            ("--hostname", self.hostname.is_some()),
            ("--net", self.net != defaults.net),
            ("-p", !self.publish.is_empty()),
            ("-v", !self.volume.is_empty()),
            ("-e", !self.env.is_empty()),
            ("-w", self.workdir.is_some()),
            ("-u", self.user.is_some()),
            ("--memory", self.memory.is_some()),
            ("--cpus", self.cpus.is_some()),
            ("--pids-limit", self.pids_limit.is_some()),
            ("--init", self.init),
            ("--security-opt", !self.security_opt.is_empty()),
        ];
        checks
            .into_iter()
            .find(|(_, given)| *given)
            .map(|(flag, _)| flag)
    }

    /// The request for `IMAGE [CMD…]`.
    pub fn request(self, mut args: Vec<String>) -> Result<RunRequest, super::EngineError> {
        if args.is_empty() {
            return Err(super::EngineError::BadFlag {
                flag: "run",
                value: String::new(),
                reason: "name an image: `nslab run busybox echo hi`".into(),
            });
        }
        let image = args.remove(0);
        let network = self.net.clone();
        let known = ["none", "host", "bridge"].contains(&network.as_str())
            || network
                .strip_prefix("container:")
                .is_some_and(|n| !n.is_empty());
        if !known {
            return Err(super::EngineError::BadFlag {
                flag: "--net",
                value: network,
                reason: "use none, host, bridge or container:NAME".into(),
            });
        }
        if network != "bridge" && !self.publish.is_empty() {
            return Err(super::EngineError::BadFlag {
                flag: "-p",
                value: self
                    .publish
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                reason: format!(
                    "a port is published to a container's address on the bridge; --net {network} has none"
                ),
            });
        }
        Ok(RunRequest {
            image,
            args,
            name: self.name,
            tty: self.tty,
            options: RunOptions {
                network,
                ports: self.publish,
                volumes: self.volume,
                env: self.env,
                workdir: self.workdir,
                user: self.user,
                hostname: self.hostname,
                memory: self.memory,
                cpus: self.cpus,
                pids_limit: self.pids_limit,
                init: self.init,
                remove: self.rm,
                detach: self.detach,
                interactive: self.interactive,
                unconfined: !self.security_opt.is_empty(),
            },
        })
    }
}
