//! What lesson 08 shows about cgroups, and only the lesson: its demos,
//! each running into one limit, and the report of what the container used.

use super::group::Usage;
use super::limits::{self, Limits};
use crate::narrate;

/// The demonstrations, each running into one limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Demo {
    /// Allocate past --memory until the OOM killer ends the container.
    Oom,
    /// A fork bomb, held at --pids-limit.
    Forkbomb,
    /// Burn CPU for 3 s under --cpus.
    Cpu,
}

impl Demo {
    /// Sets the limit it needs, when none was given (and says so).
    pub fn default_limit(self, limits: &mut Limits) {
        let (flag, missing) = match self {
            Demo::Oom if limits.memory.is_none() => {
                limits.memory = Some(32 << 20);
                ("--memory 32M", true)
            }
            Demo::Forkbomb if limits.pids.is_none() => {
                limits.pids = Some(20);
                ("--pids-limit 20", true)
            }
            Demo::Cpu if limits.cpus.is_none() => {
                limits.cpus = limits::parse_cpus("0.5").ok();
                ("--cpus 0.5", true)
            }
            _ => ("", false),
        };
        if missing {
            narrate::explain(
                format!("--demo {self:?}: no limit given for it, so {flag}").to_lowercase(),
            );
        }
    }
}

/// What the container used, from its cgroup's counters, and what the demo
/// ran into.
pub fn report(usage: &Usage, wall: f64, demo: Option<Demo>, limits: &Limits) {
    narrate::heading("What the container used (its cgroup's own counters)");
    let mib = |bytes: u64| format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20));
    let or_unknown = |value: Option<String>| value.unwrap_or_else(|| "(not counted here)".into());
    narrate::observe("peak memory", or_unknown(usage.memory_peak.map(mib)));
    narrate::observe(
        "CPU time",
        or_unknown(usage.cpu_ns.map(|ns| format!("{:.2} s", ns as f64 / 1e9))),
    );
    narrate::observe(
        "most processes",
        or_unknown(usage.pids_peak.map(|n| n.to_string())),
    );
    narrate::observe(
        "forks refused",
        or_unknown(usage.pids_refused.map(|n| n.to_string())),
    );
    narrate::observe(
        "OOM kills",
        or_unknown(usage.oom_kills.map(|n| n.to_string())),
    );
    match demo {
        Some(Demo::Oom) if usage.oom_kills.unwrap_or(0) > 0 => narrate::success(
            "the kernel's OOM killer ended it: the cgroup's own OOM count says so, not the exit status",
        ),
        Some(Demo::Oom) => narrate::warning("no OOM kill was counted: the demo stayed under the limit"),
        Some(Demo::Forkbomb) if usage.pids_refused.unwrap_or(0) > 0 => narrate::success(format!(
            "the fork bomb was held at {} processes: {} forks refused, and the host went on",
            limits.pids.unwrap_or_default(),
            usage.pids_refused.unwrap_or_default()
        )),
        Some(Demo::Forkbomb) => narrate::warning("no fork was refused: the bomb never reached the limit"),
        Some(Demo::Cpu) => {
            if let (Some(ns), Some(cpus)) = (usage.cpu_ns, limits.cpus) {
                // The burn lasts 3 s of the run's wall time.
                let share = ns as f64 / 1e9 / 3.0;
                narrate::success(format!(
                    "{:.2} s of CPU in 3 s of burning: {share:.2} CPUs, under a limit of {cpus} (the run took {wall:.1} s)",
                    ns as f64 / 1e9
                ));
            }
        }
        None => {}
    }
}
