//! Lesson 08's limits, in docker's spelling, parsed before anything exists:
//! `--memory 64M`, `--cpus 0.5`, `--pids-limit 20`, `--io-weight 100`.

use super::CgroupError;
use std::fmt;

/// CFS's scheduling period: a quota of `cpus × PERIOD` microseconds of CPU
/// time per period of [`CPU_PERIOD_US`] (docker's choice, and the kernel's
/// default `cpu.cfs_period_us`).
pub const CPU_PERIOD_US: u64 = 100_000;

/// What a container may use; each limit optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Memory, in bytes.
    pub memory: Option<u64>,
    /// CPUs, as a quota per period: 0.5 is half of one CPU.
    pub cpus: Option<Cpus>,
    /// The number of processes (and threads) at once.
    pub pids: Option<u64>,
    /// The block I/O weight, 1 to 10000 (cgroup v2's `io.weight`; v1's
    /// `blkio.weight` takes 10 to 1000).
    pub io_weight: Option<u16>,
    /// A relative CPU share when CPUs are busy, in docker's v1 units
    /// (`--cpu-shares`, 2 to 262144, 1024 the default): v1's `cpu.shares`,
    /// and on v2 the `cpu.weight` it converts to ([`shares_to_weight`]).
    pub cpu_shares: Option<u64>,
    /// Which device nodes may be used, all others refused (lesson 11): the
    /// device cgroup, v1's `devices` controller or v2's BPF program.
    /// `None` leaves devices alone.
    pub devices: Option<Vec<super::devices::DeviceRule>>,
}

/// A v1 `cpu.shares` value as a v2 `cpu.weight`, the way runc converts it:
/// 2..=262144 onto 1..=10000, so that the default 1024 becomes 39.
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

/// Parses `--cpu-shares`: 2 to 262144.
pub fn parse_cpu_shares(text: &str) -> Result<u64, CgroupError> {
    match text.trim().parse::<u64>() {
        Ok(n) if (2..=262_144).contains(&n) => Ok(n),
        _ => Err(CgroupError::InvalidLimit {
            flag: "--cpu-shares",
            text: text.to_string(),
            reason: "use a share from 2 to 262144 (1024 is the default)".into(),
        }),
    }
}

impl Limits {
    /// Whether any limit is set.
    pub fn any(&self) -> bool {
        self.memory.is_some()
            || self.cpus.is_some()
            || self.pids.is_some()
            || self.io_weight.is_some()
    }
}

/// A CPU quota: microseconds of CPU time per [`CPU_PERIOD_US`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpus {
    /// The quota, in microseconds per period.
    pub quota_us: u64,
}

impl fmt::Display for Cpus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.quota_us as f64 / CPU_PERIOD_US as f64)
    }
}

/// Parses `--memory`: a number of bytes, or a number followed by `b`, `k`,
/// `m` or `g` (any case), powers of 1024, as docker reads it.
pub fn parse_memory(text: &str) -> Result<u64, CgroupError> {
    let invalid = |reason: &str| CgroupError::InvalidLimit {
        flag: "--memory",
        text: text.to_string(),
        reason: reason.to_string(),
    };
    let lower = text.trim().to_ascii_lowercase();
    let (number, unit) = match lower.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => lower.split_at(at),
        None => (lower.as_str(), ""),
    };
    let shift = match unit {
        "" | "b" => 0,
        "k" | "kb" => 10,
        "m" | "mb" => 20,
        "g" | "gb" => 30,
        _ => return Err(invalid("use a number and one of b, k, m, g, e.g. 64M")),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| invalid("use a number and one of b, k, m, g, e.g. 64M"))?;
    let bytes = value
        .checked_mul(1 << shift)
        .ok_or_else(|| invalid("too large"))?;
    // Below a few MiB a container cannot even start its shell.
    if bytes < 4 << 20 {
        return Err(invalid("at least 4M: less cannot start even a shell"));
    }
    Ok(bytes)
}

/// Parses `--cpus`: a positive decimal number of CPUs, at most three
/// decimals (a quota of 1 ms per period is the kernel's smallest).
pub fn parse_cpus(text: &str) -> Result<Cpus, CgroupError> {
    let invalid = |reason: &str| CgroupError::InvalidLimit {
        flag: "--cpus",
        text: text.to_string(),
        reason: reason.to_string(),
    };
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| invalid("use a positive number of CPUs, e.g. 0.5"))?;
    if !value.is_finite() || value <= 0.0 {
        return Err(invalid("use a positive number of CPUs, e.g. 0.5"));
    }
    let quota_us = (value * CPU_PERIOD_US as f64).round() as u64;
    // cpu.cfs_quota_us must be at least 1000 (sched: 1 ms).
    if quota_us < 1000 {
        return Err(invalid(
            "at least 0.01: the kernel's smallest quota is 1 ms per 100 ms",
        ));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    if value > cores {
        return Err(invalid(&format!("this machine has {cores} CPUs")));
    }
    Ok(Cpus { quota_us })
}

/// Parses `--pids-limit`: a positive number of processes.
pub fn parse_pids(text: &str) -> Result<u64, CgroupError> {
    match text.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(CgroupError::InvalidLimit {
            flag: "--pids-limit",
            text: text.to_string(),
            reason: "use a positive number of processes, e.g. 20".into(),
        }),
    }
}

/// Parses `--io-weight`: 1 to 10000, as cgroup v2's `io.weight`.
pub fn parse_io_weight(text: &str) -> Result<u16, CgroupError> {
    match text.trim().parse::<u16>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => Err(CgroupError::InvalidLimit {
            flag: "--io-weight",
            text: text.to_string(),
            reason: "use a weight from 1 to 10000 (100 is the default share)".into(),
        }),
    }
}

/// The limit flags of lesson 08 on, parsed when the command line is.
#[derive(Debug, clap::Args)]
pub struct LimitArgs {
    /// Memory limit, e.g. 64M (b, k, m, g: powers of 1024)
    #[arg(long, value_name = "SIZE", value_parser = |s: &str| parse_memory(s).map_err(|e| e.to_string()))]
    pub memory: Option<u64>,

    /// CPU limit, in CPUs: 0.5 is half of one CPU
    #[arg(long, value_name = "N", value_parser = |s: &str| parse_cpus(s).map_err(|e| e.to_string()))]
    pub cpus: Option<Cpus>,

    /// Most processes at once, e.g. 20
    #[arg(long = "pids-limit", value_name = "N", value_parser = |s: &str| parse_pids(s).map_err(|e| e.to_string()))]
    pub pids: Option<u64>,

    /// Relative CPU share when CPUs are busy, 2 to 262144 (1024 the default)
    #[arg(long = "cpu-shares", value_name = "N", value_parser = |s: &str| parse_cpu_shares(s).map_err(|e| e.to_string()))]
    pub cpu_shares: Option<u64>,

    /// Block I/O weight, 1 to 10000 (cgroup v1's blkio.weight takes 10 to 1000)
    #[arg(long = "io-weight", value_name = "N", value_parser = |s: &str| parse_io_weight(s).map_err(|e| e.to_string()))]
    pub io_weight: Option<u16>,
}

impl LimitArgs {
    /// The limits.
    pub fn limits(&self) -> Limits {
        Limits {
            memory: self.memory,
            cpus: self.cpus,
            pids: self.pids,
            io_weight: self.io_weight,
            cpu_shares: self.cpu_shares,
            devices: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(result: Result<impl fmt::Debug, CgroupError>) -> String {
        match result {
            Err(CgroupError::InvalidLimit { reason, .. }) => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn memory_sizes_are_powers_of_1024() {
        assert_eq!(parse_memory("64M").unwrap(), 64 << 20);
        assert_eq!(parse_memory("1g").unwrap(), 1 << 30);
        assert_eq!(parse_memory("8192k").unwrap(), 8 << 20);
        assert_eq!(parse_memory("33554432").unwrap(), 32 << 20);
        assert!(reason(parse_memory("12XB")).contains("one of b, k, m, g"));
        assert!(reason(parse_memory("-5M")).contains("one of b, k, m, g"));
        assert!(reason(parse_memory("1M")).contains("at least 4M"));
        assert!(reason(parse_memory("99999999999999g")).contains("too large"));
    }

    #[test]
    fn cpus_are_positive_and_at_least_a_millisecond() {
        assert_eq!(parse_cpus("0.5").unwrap().quota_us, 50_000);
        assert_eq!(parse_cpus("1").unwrap().quota_us, 100_000);
        assert!(reason(parse_cpus("0")).contains("positive"));
        assert!(reason(parse_cpus("-1")).contains("positive"));
        assert!(reason(parse_cpus("half")).contains("positive"));
        assert!(reason(parse_cpus("0.001")).contains("at least 0.01"));
        assert!(reason(parse_cpus("100000")).contains("CPUs"));
    }

    #[test]
    fn cpu_shares_convert_to_weights_as_runc_does() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(parse_cpu_shares("512").unwrap(), 512);
        assert!(reason(parse_cpu_shares("1")).contains("2 to 262144"));
    }

    #[test]
    fn pids_and_io_weights_have_their_ranges() {
        assert_eq!(parse_pids("20").unwrap(), 20);
        assert!(reason(parse_pids("0")).contains("positive"));
        assert_eq!(parse_io_weight("100").unwrap(), 100);
        assert!(reason(parse_io_weight("0")).contains("1 to 10000"));
        assert!(reason(parse_io_weight("10001")).contains("1 to 10000"));
    }
}
