//! Lesson 06: the network namespace, and four ways to give a container a
//! network.
//!
//! A network namespace has its own network devices, addresses, routes,
//! firewall rules and port numbers (network_namespaces(7)). A child cloned
//! with `CLONE_NEWNET` starts with one device, `lo`, down: no way out at
//! all. What a container gets is the runtime's choice, the one docker's
//! `--net` flag names ([`Network`]):
//!
//! - `none`: a new namespace with only `lo`, brought up;
//! - `host`: no new namespace: the container uses the host's devices and
//!   ports, as every lesson before 06 silently did;
//! - `bridge`: a new namespace, and a veth pair, a virtual cable, with one
//!   end in it (renamed `eth0`) and the other on a bridge on the host,
//!   `nslab0`, a switch all bridge containers plug into;
//! - `container:NAME`: no new namespace either, but another running
//!   container's, joined with setns(2), as the containers of a Kubernetes
//!   pod share one.
//!
//! The parent prepares before the child exists ([`prepare`]: an address
//! lease and the bridge, or the other container's namespace opened), plugs
//! the cable in while the child waits at its gate ([`Prepared::plug_in`]),
//! and unplugs when it is gone (dropping [`Prepared`]). The child configures
//! its side ([`Prepared::inside`]). Everything goes over rtnetlink
//! ([`netlink`]), narrated as the `ip` command that does the same.
//!
//! [`observe`] holds what only the lesson shows.

pub mod lease;
pub mod netlink;
pub mod observe;
pub mod probe;

use crate::namespace::Namespace;
use crate::record::{self, ProcessId, RecordError};
use crate::{narrate, syscall};
use lease::{Lease, Leases, GATEWAY, PREFIX};
use netlink::{Netlink, NetlinkError};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The bridge on the host that every bridge container plugs into.
pub const BRIDGE: &str = "nslab0";
/// The container's end of its veth pair, once inside: the name programs
/// expect of a first Ethernet device.
pub const CONTAINER_LINK: &str = "eth0";
/// The loopback device every network namespace starts with.
pub const LOOPBACK: &str = "lo";

/// How a container is networked: docker's `--net` modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// A network namespace with only loopback.
    None,
    /// The host's own network: no network namespace.
    Host,
    /// A network namespace with a veth pair to the [`BRIDGE`].
    Bridge,
    /// The network namespace of the running container of that name.
    Container(String),
}

impl Network {
    /// The namespace this mode creates: `None` and `Bridge` a new one;
    /// `Host` and `Container` none (they keep, or join, an existing one).
    pub fn creates_namespace(&self) -> bool {
        matches!(self, Network::None | Network::Bridge)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Network::None => f.write_str("none"),
            Network::Host => f.write_str("host"),
            Network::Bridge => f.write_str("bridge"),
            Network::Container(name) => write!(f, "container:{name}"),
        }
    }
}

impl FromStr for Network {
    type Err = String;

    fn from_str(text: &str) -> Result<Network, String> {
        match text {
            "none" => Ok(Network::None),
            "host" => Ok(Network::Host),
            "bridge" => Ok(Network::Bridge),
            _ => match text.strip_prefix("container:") {
                Some(name) => {
                    record::check_name(name).map_err(|e| e.to_string())?;
                    Ok(Network::Container(name.to_string()))
                }
                None => Err(format!(
                    "{text:?} is not a network mode: use none, host, bridge or container:NAME"
                )),
            },
        }
    }
}

/// The network options of lesson 06 on.
#[derive(Debug, clap::Args)]
pub struct NetArgs {
    /// The container's network: none, host, bridge, or container:NAME to join a running container's
    #[arg(long, value_name = "MODE", default_value = "bridge")]
    pub net: Network,

    /// A name for this container, so another can join its network with --net container:NAME
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub name: Option<String>,

    /// Where running containers are recorded and addresses leased
    #[arg(long, value_name = "DIR", env = record::RUN_DIR_ENV, default_value_os_t = record::default_run_dir())]
    pub run_dir: PathBuf,
}

impl NetArgs {
    /// The run directory, made absolute: the record of a named container
    /// must be found by lessons started from other directories.
    pub fn run_dir(&self) -> PathBuf {
        std::path::absolute(&self.run_dir).unwrap_or_else(|_| self.run_dir.clone())
    }
}

/// `--name`, checked when the command line is parsed.
fn parse_name(name: &str) -> Result<String, String> {
    record::check_name(name).map_err(|e| e.to_string())?;
    Ok(name.to_string())
}

/// What can go wrong giving a container its network.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A netlink request failed.
    #[error("failed to configure the network")]
    Netlink(#[from] NetlinkError),
    /// Reading or writing the lease directory failed.
    #[error("failed to use the address leases at {}", path.display())]
    Leases {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Every address of the subnet is taken.
    #[error("every address of {}/{PREFIX} is in use", lease::SUBNET)]
    NoAddressLeft,
    /// The container to join could not be found.
    #[error("cannot join the network of container {name:?}")]
    Join {
        /// Its name.
        name: String,
        /// Why.
        #[source]
        source: RecordError,
    },
    /// Opening the other container's `/proc/<pid>/ns/net` failed.
    #[error("failed to open the network namespace of container {name:?}")]
    OpenNamespace {
        /// Its name.
        name: String,
        /// The cause.
        #[source]
        source: nix::errno::Errno,
    },
    /// setns(2) into the other container's network namespace failed.
    #[error("failed to join the network namespace of container {name:?}")]
    Setns {
        /// Its name.
        name: String,
        /// The cause.
        #[source]
        source: nix::errno::Errno,
    },
    /// Finding out who we are, for the lease, failed.
    #[error("failed to read this process's start time")]
    Owner(#[source] RecordError),
}

impl NetError {
    /// Advice for the learner, where there is some to give.
    pub fn hint(&self) -> Option<String> {
        match self {
            NetError::Netlink(e) => e.hint(),
            NetError::Join { source, .. } => source.hint(),
            NetError::NoAddressLeft => Some(
                "253 bridge containers are running; `sudo nslab cleanup` frees the leases of killed ones"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// What the parent prepared for the child's network, before the child
/// exists. Dropping it unplugs: the host's veth end, the lease, and the
/// bridge when no container is left on it.
pub enum Prepared {
    /// `--net none`: only loopback to bring up, inside.
    Loopback,
    /// `--net host`: nothing to do.
    Host,
    /// `--net bridge`: an address, and the names of the cable's two ends.
    Bridge {
        /// Where the leases are.
        run_dir: PathBuf,
        /// The address.
        lease: Lease,
        /// Set once the veth pair exists, so that dropping removes it.
        plugged: bool,
    },
    /// `--net container:NAME`: the other container's network namespace.
    Join {
        /// Its name, for messages.
        name: String,
        /// `/proc/<pid>/ns/net` of its process, opened by the parent.
        namespace: OwnedFd,
    },
}

/// The parent's first network step, before the child exists.
///
/// For a bridge: take an address and make sure the bridge is there, under
/// the lease lock. For `container:NAME`: find the container's record and
/// open its network namespace now, while the parent can still see the
/// host's `/proc` (the child, after pivot_root, cannot).
// ANCHOR: prepare
pub fn prepare(network: &Network, run_dir: &Path) -> Result<Prepared, NetError> {
    match network {
        Network::None => Ok(Prepared::Loopback),
        Network::Host => {
            narrate::explain(
                "--net host: no network namespace; the container uses the host's devices, \
                 addresses and ports, as lessons 00-05 did",
            );
            Ok(Prepared::Host)
        }
        Network::Bridge => {
            narrate::explain("--net bridge: first an address for the container, and the bridge it will plug into");
            let me = ProcessId::of(std::process::id() as i32).map_err(NetError::Owner)?;
            let leases = Leases::lock(run_dir)?;
            // A killed run's lease is free again; its host end, normally
            // gone with its container's namespace, must not be in the way
            // of the next container to take that number.
            let stale = leases.remove_stale()?;
            if !stale.is_empty() {
                delete_host_ends(&mut Netlink::open()?, stale)?;
            }
            let lease = leases.take(me)?;
            // From here on, dropping `prepared` gives the lease back.
            let prepared = Prepared::Bridge {
                run_dir: run_dir.to_path_buf(),
                lease,
                plugged: false,
            };
            let bridge = Netlink::open()
                .map_err(NetError::from)
                .and_then(|mut netlink| ensure_bridge(&mut netlink));
            // Unlocked before `prepared` can be dropped on an error: its
            // drop takes the lock again to give the lease back.
            drop(leases);
            bridge?;
            Ok(prepared)
        }
        Network::Container(name) => {
            let record = record::find(run_dir, name).map_err(|source| NetError::Join {
                name: name.clone(),
                source,
            })?;
            let pid = record.container.map(|c| c.pid).unwrap_or(record.lesson.pid);
            let path = format!("/proc/{pid}/ns/net");
            let namespace = syscall::open(
                Path::new(&path),
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                0,
                &format!("container {name}'s network namespace"),
            )
            .map_err(|source| NetError::OpenNamespace {
                name: name.clone(),
                source,
            })?;
            Ok(Prepared::Join {
                name: name.clone(),
                namespace,
            })
        }
    }
}
// ANCHOR_END: prepare

/// Makes the bridge, gives it the gateway address and brings it up, unless
/// it is there already. Called under the lease lock.
fn ensure_bridge(netlink: &mut Netlink) -> Result<u32, NetError> {
    if let Some(index) = netlink.link_index(BRIDGE)? {
        narrate::explain(format!(
            "{BRIDGE} is there already: another container made it"
        ));
        return Ok(index);
    }
    netlink.add_bridge(BRIDGE)?;
    let index = netlink
        .link_index(BRIDGE)?
        .ok_or(NetError::Netlink(NetlinkError::Decode {
            request: format!("ip link show {BRIDGE}"),
            detail: "the bridge just made is not there".into(),
        }))?;
    netlink.add_address(BRIDGE, index, GATEWAY, PREFIX)?;
    netlink.set_up(BRIDGE, index)?;
    // nslab adds no NAT and no route beyond the bridge. A host that
    // forwards IPv4 would still pass a container's packets for outside
    // addresses on, unanswerable (their source is 10.213.0.x): say so.
    if std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").is_ok_and(|v| v.trim() == "1") {
        narrate::warning(
            "this namespace forwards IPv4 (net.ipv4.ip_forward = 1): nslab adds no NAT, so a \
             container's packets for outside addresses would leave without a way back; \
             reach only 10.213.0.0/24",
        );
    }
    Ok(index)
}

impl Prepared {
    /// The parent's step while the child waits at its gate: for a bridge,
    /// make the veth pair, plug the host's end into the bridge, and move the
    /// other end into the child's network namespace.
    // ANCHOR: plug_in
    pub fn plug_in(&mut self, child: Pid) -> Result<(), NetError> {
        let Prepared::Bridge { lease, plugged, .. } = self else {
            return Ok(());
        };
        let (host_end, container_end) = (lease.host_end(), lease.container_end());
        narrate::explain(
            "the cable: a veth pair, one end on the bridge, the other into the child's namespace",
        );
        let mut netlink = Netlink::open()?;
        netlink.add_veth(&host_end, &container_end)?;
        *plugged = true;
        let bridge = netlink.link_index(BRIDGE)?.unwrap_or_default();
        let host_index = netlink.link_index(&host_end)?.unwrap_or_default();
        let container_index = netlink.link_index(&container_end)?.unwrap_or_default();
        netlink.set_master(&host_end, host_index, BRIDGE, bridge)?;
        netlink.set_up(&host_end, host_index)?;
        // By pid: the link moves into whatever network namespace that
        // process is in, the child's.
        netlink.move_to_netns_of(&container_end, container_index, child.as_raw())?;
        narrate::explain(format!(
            "{container_end} is in the container now, gone from the host; {host_end} stays, on {BRIDGE}"
        ));
        Ok(())
    }
    // ANCHOR_END: plug_in

    /// The child's network step, first of its steps. Joining another
    /// container's namespace comes before `/sys` is mounted: sysfs shows
    /// the devices of the namespace of whoever mounts it.
    // ANCHOR: inside
    pub fn inside(&self) -> Result<(), NetError> {
        match self {
            Prepared::Host => Ok(()),
            Prepared::Join { name, namespace } => {
                narrate::syscall(format!(
                    "setns(<container {name}'s /proc/PID/ns/net>, CLONE_NEWNET)"
                ));
                nix::sched::setns(namespace, CloneFlags::CLONE_NEWNET).map_err(|source| {
                    NetError::Setns {
                        name: name.clone(),
                        source,
                    }
                })?;
                narrate::explain(format!(
                    "we are in {name}'s network namespace: its devices, addresses and ports"
                ));
                Ok(())
            }
            Prepared::Loopback => {
                narrate::explain("--net none: a namespace with only lo, which starts down");
                let mut netlink = Netlink::open()?;
                let lo = netlink.link_index(LOOPBACK)?.unwrap_or(1);
                netlink.set_up(LOOPBACK, lo)?;
                Ok(())
            }
            Prepared::Bridge { lease, .. } => {
                narrate::explain(format!(
                    "inside: loopback up, then our end of the cable becomes {CONTAINER_LINK}, with an address and a way out"
                ));
                let mut netlink = Netlink::open()?;
                let lo = netlink.link_index(LOOPBACK)?.unwrap_or(1);
                netlink.set_up(LOOPBACK, lo)?;
                let end = lease.container_end();
                let index = netlink.link_index(&end)?.unwrap_or_default();
                // Renamed while down: kernels before 6.2 refuse to rename
                // a link that is up (EBUSY), and nslab runs on 5.10.
                netlink.rename(&end, index, CONTAINER_LINK)?;
                netlink.add_address(CONTAINER_LINK, index, lease.address(), PREFIX)?;
                netlink.set_up(CONTAINER_LINK, index)?;
                netlink.add_default_route(GATEWAY)?;
                Ok(())
            }
        }
    }
    // ANCHOR_END: inside

    /// The container's address, on the bridge.
    pub fn address(&self) -> Option<std::net::Ipv4Addr> {
        match self {
            Prepared::Bridge { lease, .. } => Some(lease.address()),
            _ => None,
        }
    }

    /// The namespace this step makes the child be born into, if any.
    pub fn namespace(&self) -> Option<Namespace> {
        matches!(self, Prepared::Loopback | Prepared::Bridge { .. }).then_some(Namespace::Net)
    }
}

impl Drop for Prepared {
    /// Unplugs a bridge container, after it has ended: the host's veth end
    /// (normally gone already: a veth pair dies with the namespace its
    /// other end is in), the lease, and the bridge if it was the last.
    fn drop(&mut self) {
        let Prepared::Bridge {
            run_dir,
            lease,
            plugged,
        } = self
        else {
            return;
        };
        narrate::heading("Unplugging the network");
        if let Err(error) = unplug(run_dir, *lease, *plugged) {
            crate::report::print_error(&crate::Error::from(error));
        }
    }
}

/// The work of dropping a bridge [`Prepared`], under the lease lock.
// ANCHOR: unplug
/// Takes back the leases of containers whose owner is gone without
/// giving them back (a killed lesson, a killed engine monitor), their host
/// veth ends if still there, and the bridge if no lease is left. The
/// engine's `stop` and `rm` call it for a container whose monitor died.
pub fn release_stale(run_dir: &Path) -> Result<(), NetError> {
    let leases = Leases::lock(run_dir)?;
    let stale = leases.remove_stale()?;
    let mut netlink = Netlink::open()?;
    delete_host_ends(&mut netlink, stale)?;
    if leases.held()? == 0 {
        if let Some(index) = netlink.link_index(BRIDGE)? {
            netlink.delete_link(BRIDGE, index)?;
        }
        return leases.remove_if_unused();
    }
    Ok(())
}

/// Deletes the host ends of the veth pairs of stale leases `numbers`, if
/// they are still there (normally gone with their container's namespace).
/// ENODEV: the kernel removed the pair meanwhile, as it tears a dead
/// namespace down in the background.
fn delete_host_ends(netlink: &mut Netlink, numbers: Vec<u8>) -> Result<(), NetError> {
    for number in numbers {
        let host_end = Lease { number }.host_end();
        if let Some(index) = netlink.link_index(&host_end)? {
            match netlink.delete_link(&host_end, index) {
                Err(e) if e.errno() == Some(nix::errno::Errno::ENODEV) => {}
                result => result?,
            }
        }
    }
    Ok(())
}

fn unplug(run_dir: &Path, lease: Lease, plugged: bool) -> Result<(), NetError> {
    let leases = Leases::lock(run_dir)?;
    let mut netlink = Netlink::open()?;
    if plugged {
        let host_end = lease.host_end();
        let gone = || {
            narrate::explain(format!(
                "{host_end} went with the container's namespace: a veth pair dies with either end"
            ))
        };
        match netlink.link_index(&host_end)? {
            // The kernel tears a dead namespace down in the background, so
            // the pair may vanish between the lookup and the delete.
            Some(index) => match netlink.delete_link(&host_end, index) {
                Err(e) if e.errno() == Some(nix::errno::Errno::ENODEV) => gone(),
                result => result?,
            },
            None => gone(),
        }
    }
    leases.give_back(lease)?;
    leases.remove_stale()?;
    if leases.held()? == 0 {
        if let Some(index) = netlink.link_index(BRIDGE)? {
            narrate::explain(format!("no container is left on {BRIDGE}: it goes too"));
            netlink.delete_link(BRIDGE, index)?;
        }
        // And the bookkeeping of the bridge, with it.
        return leases.remove_if_unused();
    }
    narrate::explain(format!("{BRIDGE} stays: other containers are still on it"));
    Ok(())
}
// ANCHOR_END: unplug
