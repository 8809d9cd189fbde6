//! `nslab`, the runtime: its command line.
//!
//! This module tree grows into an OCI runtime (lesson 12): the spec read
//! from a bundle's `config.json`, container state under `--root`, and the
//! lifecycle commands real engines call (`create`, `start`, `state`,
//! `kill`, `delete`). It will fill the same [`crate::spec::Spec`] the
//! lessons fill and run the same [`crate::start`] sequence. For now it has
//! the machine-level commands an instructor needs: `nslab doctor` and
//! `nslab cleanup`.

use crate::{doctor, leftovers, narrate, record, rootfs};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// nslab: a container runtime built one kernel facility at a time.
#[derive(Debug, Parser)]
#[command(name = "nslab", version)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check which lessons this machine can run, and how to fix the rest
    ///
    /// Probes each kernel facility the lessons use (root, every namespace
    /// kind, the user-namespace sysctls, overlayfs, cgroup v1/v2/hybrid and
    /// its controllers, the rootfs source) by trying it, never by kernel
    /// version. Exits 0 when every lesson can run here, 1 otherwise. Runs
    /// without root too: it then says what it could not test.
    Doctor,
    /// Find and remove what a killed lesson left behind
    ///
    /// Lists the mounts under the state directory, System V IPC objects
    /// and POSIX queues of lessons that are no longer running, `.old-root`
    /// and escape directories in the rootfs, and half-built rootfs staging
    /// directories; then removes them, unmounting before removing, never
    /// walking through a mount point. For lesson 06, it also lists the
    /// container records and address leases under the run directory whose
    /// lesson is gone, and, in this network namespace, the bridge nslab0
    /// and the veth ends nslab<N>h that no running lesson uses (judged by
    /// the leases under the run directory, under their lock: give the one
    /// the lessons used).
    Cleanup {
        /// Only list what would be removed
        #[arg(long)]
        dry_run: bool,

        /// Also remove the default rootfs (and lesson 07's copies of it), so that the next lesson rebuilds it
        #[arg(long)]
        rootfs: bool,

        /// Where nslab keeps its state
        #[arg(long, value_name = "DIR", env = "NSLAB_STATE_DIR", default_value = rootfs::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,

        /// Where lesson 06 records running containers and leases addresses
        #[arg(long, value_name = "DIR", env = record::RUN_DIR_ENV, default_value = record::DEFAULT_RUN_DIR)]
        run_dir: PathBuf,
    },
}

/// The `nslab` binary's `main`.
pub fn main() -> ExitCode {
    let args = Args::parse();
    narrate::init(false);
    match args.command {
        Command::Doctor => doctor::main(),
        Command::Cleanup {
            dry_run,
            rootfs: remove_rootfs,
            state_dir,
            run_dir,
        } => {
            let mut code = leftovers::cleanup(&state_dir, &run_dir, dry_run);
            if remove_rootfs && code == 0 {
                code = remove_default_rootfs(&state_dir, dry_run);
            }
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}

/// Removes the default rootfs with [`rootfs::remove_tree`], which refuses
/// to walk through a mount point or a tree a process still uses as its root.
fn remove_default_rootfs(state_dir: &std::path::Path, dry_run: bool) -> i32 {
    // The default rootfs, the copies lesson 07 made of it for a user
    // namespace's root (rootfs-UID-GID), which would outlive a rebuild, and
    // lesson 11's layer of its escape corpus (layer-escapes-…).
    let mut trees = vec![state_dir.join(rootfs::ROOTFS_DIR)];
    if let Ok(entries) = std::fs::read_dir(state_dir) {
        let mut copies: Vec<_> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| {
                let name = path.file_name().and_then(|name| name.to_str());
                if name.is_some_and(|name| name.starts_with(crate::lockdown::kit::PREFIX)) {
                    return true;
                }
                name.and_then(|name| name.strip_prefix("rootfs-"))
                    .is_some_and(|ids| {
                        ids.split_once('-').is_some_and(|(uid, gid)| {
                            uid.parse::<u32>().is_ok() && gid.parse::<u32>().is_ok()
                        })
                    })
            })
            .collect();
        copies.sort();
        trees.extend(copies);
    }
    let mut code = 0;
    for tree in trees.into_iter().filter(|tree| tree.exists()) {
        narrate::warning(format!("a rootfs: {}", tree.display()));
        if dry_run {
            continue;
        }
        narrate::file_op(format!(
            "remove {}   # never crossing a mount point",
            tree.display()
        ));
        match rootfs::remove_tree(&tree) {
            Ok(()) => narrate::success("removed: the next lesson builds it again"),
            Err(error) => {
                crate::report::print_error(&crate::Error::from(error));
                code = 1;
            }
        }
    }
    code
}
