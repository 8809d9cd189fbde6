//! rtnetlink, the way `ip(8)` talks to the kernel: one request, one answer.
//!
//! Network devices, addresses and routes are not files: a program asks the
//! kernel to change them by sending messages over a `NETLINK_ROUTE` socket
//! (netlink(7), rtnetlink(7)). Each message is a header saying what to do
//! (`RTM_NEWLINK`: make or change a link; `RTM_NEWADDR`; `RTM_NEWROUTE`;
//! `RTM_DELLINK`…) followed by attributes (`IFLA_IFNAME`, `IFLA_MASTER`…).
//! With `NLM_F_ACK` the kernel answers every request with an error message
//! whose code is 0 on success: that answer is what [`Netlink::request`]
//! waits for, so each call here is synchronous.
//!
//! The messages come from the `netlink-packet-route` crate, the types the
//! async `rtnetlink` crate is built on; the socket from `netlink-sys`. A
//! handful of requests need no async runtime.
//!
//! Every request is narrated as the `ip` command that does the same, so
//! you can repeat it by hand. A socket talks to the network namespace its
//! *creator* was in when it was opened: the parent's socket changes the
//! host's devices, the child's its own.

use crate::narrate;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::errno::Errno;
use std::io;
use std::net::Ipv4Addr;

/// What can go wrong talking to the kernel over rtnetlink.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// socket(AF_NETLINK) or its bind/connect failed.
    #[error("failed to open a netlink socket")]
    Open(#[source] io::Error),
    /// Sending or receiving a message failed.
    #[error("failed to talk to the kernel for `{request}`")]
    Io {
        /// The request, as its `ip` command.
        request: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The kernel answered with an error.
    #[error("the kernel refused `{request}`")]
    Refused {
        /// The request, as its `ip` command.
        request: String,
        /// Its errno.
        #[source]
        source: Errno,
    },
    /// The kernel's answer could not be decoded.
    #[error("could not decode the kernel's answer to `{request}`: {detail}")]
    Decode {
        /// The request, as its `ip` command.
        request: String,
        /// What was wrong.
        detail: String,
    },
}

impl NetlinkError {
    /// The errno the kernel answered with, if it refused.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            NetlinkError::Refused { source, .. } => Some(*source),
            _ => None,
        }
    }

    /// Advice for the learner, where there is some to give.
    pub fn hint(&self) -> Option<String> {
        match self.errno()? {
            Errno::EPERM => Some("changing network devices needs root (CAP_NET_ADMIN)".into()),
            Errno::EEXIST => Some(
                "a device or address by that name is left from a killed run: `sudo nslab cleanup` removes it"
                    .into(),
            ),
            Errno::EOPNOTSUPP => Some(
                "this kernel lacks the device type (CONFIG_VETH, CONFIG_BRIDGE): `nslab doctor` checks"
                    .into(),
            ),
            _ => None,
        }
    }
}

/// A `NETLINK_ROUTE` socket in the caller's network namespace.
pub struct Netlink {
    socket: Socket,
    sequence: u32,
}

/// The message flags of a request that makes something new, and fails if
/// it exists already (`ip … add`).
const CREATE: u16 = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
/// The message flags of a request that changes or removes something.
const CHANGE: u16 = NLM_F_REQUEST | NLM_F_ACK;

impl Netlink {
    /// Opens a socket to the kernel's routing subsystem, in the network
    /// namespace the caller is in now.
    pub fn open() -> Result<Netlink, NetlinkError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(NetlinkError::Open)?;
        socket.bind_auto().map_err(NetlinkError::Open)?;
        // Port 0 is the kernel.
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(NetlinkError::Open)?;
        Ok(Netlink {
            socket,
            sequence: 0,
        })
    }

    /// Sends one request, narrated as `ip`, and waits for the kernel's
    /// answer: the message it returns (for a query) or nothing (an ACK).
    // ANCHOR: request
    pub fn request(
        &mut self,
        ip: &str,
        flags: u16,
        message: RouteNetlinkMessage,
    ) -> Result<Option<RouteNetlinkMessage>, NetlinkError> {
        narrate::syscall(format!("{ip}   # {}", message_name(&message)));
        self.sequence += 1;
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut buffer = vec![0; packet.buffer_len()];
        packet.serialize(&mut buffer);
        let io_error = |source| NetlinkError::Io {
            request: ip.to_string(),
            source,
        };
        self.socket.send(&buffer, 0).map_err(io_error)?;

        let mut answer = None;
        loop {
            let (bytes, _) = self.socket.recv_from_full().map_err(io_error)?;
            // One datagram may hold several messages, one after another.
            let mut offset = 0;
            while offset < bytes.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes[offset..])
                    .map_err(|e| NetlinkError::Decode {
                        request: ip.to_string(),
                        detail: e.to_string(),
                    })?;
                let length = reply.header.length as usize;
                offset += length.max(1);
                if reply.header.sequence_number != self.sequence {
                    continue;
                }
                match reply.payload {
                    // The answer to NLM_F_ACK: code 0 is success, and
                    // comes after the reply a query asked for.
                    NetlinkPayload::Error(error) if error.code.is_none() => return Ok(answer),
                    NetlinkPayload::Error(error) => {
                        return Err(NetlinkError::Refused {
                            request: ip.to_string(),
                            source: Errno::from_raw(-error.raw_code()),
                        })
                    }
                    NetlinkPayload::InnerMessage(message) => answer = Some(message),
                    NetlinkPayload::Done(_) => return Ok(answer),
                    _ => {}
                }
            }
        }
    }
    // ANCHOR_END: request

    /// The index of the link called `name` (`ip link show NAME`); `None`
    /// when there is none. An index, not a name, is what the other
    /// requests take.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>, NetlinkError> {
        let mut message = LinkMessage::default();
        message.attributes.push(LinkAttribute::IfName(name.into()));
        match self.request(
            &format!("ip link show {name}"),
            CHANGE,
            RouteNetlinkMessage::GetLink(message),
        ) {
            Ok(Some(RouteNetlinkMessage::NewLink(link))) => {
                narrate::explain(format!("{name} is link {}", link.header.index));
                Ok(Some(link.header.index))
            }
            Ok(_) => Ok(None),
            Err(e) if e.errno() == Some(Errno::ENODEV) => {
                narrate::explain(format!("no link called {name}"));
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Makes a bridge: a switch in the kernel that forwards frames between
    /// the links attached to it (`ip link add NAME type bridge`).
    pub fn add_bridge(&mut self, name: &str) -> Result<(), NetlinkError> {
        let mut message = LinkMessage::default();
        message.attributes = vec![
            LinkAttribute::IfName(name.into()),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]),
        ];
        self.request(
            &format!("ip link add {name} type bridge"),
            CREATE,
            RouteNetlinkMessage::NewLink(message),
        )?;
        Ok(())
    }

    /// Makes a veth pair: two links, each the other's far end, like a cable
    /// (`ip link add NAME type veth peer name PEER`; see veth(4)).
    // ANCHOR: add_veth
    pub fn add_veth(&mut self, name: &str, peer: &str) -> Result<(), NetlinkError> {
        let mut peer_message = LinkMessage::default();
        peer_message
            .attributes
            .push(LinkAttribute::IfName(peer.into()));
        let mut message = LinkMessage::default();
        message.attributes = vec![
            LinkAttribute::IfName(name.into()),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_message))),
            ]),
        ];
        self.request(
            &format!("ip link add {name} type veth peer name {peer}"),
            CREATE,
            RouteNetlinkMessage::NewLink(message),
        )?;
        Ok(())
    }
    // ANCHOR_END: add_veth

    /// Sends `RTM_NEWLINK` for an existing link with `attributes`, and the
    /// up flag when `up`: how every `ip link set` is made.
    fn set_link(
        &mut self,
        ip: &str,
        index: u32,
        up: bool,
        attributes: Vec<LinkAttribute>,
    ) -> Result<(), NetlinkError> {
        let mut message = LinkMessage::default();
        message.header.index = index;
        if up {
            // change_mask says which flags to change; flags, their value.
            message.header.flags = LinkFlags::Up;
            message.header.change_mask = LinkFlags::Up;
        }
        message.attributes = attributes;
        self.request(ip, CHANGE, RouteNetlinkMessage::NewLink(message))?;
        Ok(())
    }

    /// Brings a link up (`ip link set NAME up`).
    pub fn set_up(&mut self, name: &str, index: u32) -> Result<(), NetlinkError> {
        self.set_link(&format!("ip link set {name} up"), index, true, vec![])
    }

    /// Attaches a link to a bridge (`ip link set NAME master BRIDGE`).
    pub fn set_master(
        &mut self,
        name: &str,
        index: u32,
        bridge: &str,
        bridge_index: u32,
    ) -> Result<(), NetlinkError> {
        self.set_link(
            &format!("ip link set {name} master {bridge}"),
            index,
            false,
            vec![LinkAttribute::Controller(bridge_index)],
        )
    }

    /// Moves a link into the network namespace process `pid` is in
    /// (`ip link set NAME netns PID`). It disappears from this namespace.
    pub fn move_to_netns_of(
        &mut self,
        name: &str,
        index: u32,
        pid: i32,
    ) -> Result<(), NetlinkError> {
        self.set_link(
            &format!("ip link set {name} netns {pid}"),
            index,
            false,
            vec![LinkAttribute::NetNsPid(pid as u32)],
        )
    }

    /// Renames a link, which must be down (`ip link set NAME name NEW`).
    pub fn rename(&mut self, name: &str, index: u32, new: &str) -> Result<(), NetlinkError> {
        self.set_link(
            &format!("ip link set {name} name {new}"),
            index,
            false,
            vec![LinkAttribute::IfName(new.into())],
        )
    }

    /// Removes a link (`ip link del NAME`); for a veth, both ends go.
    pub fn delete_link(&mut self, name: &str, index: u32) -> Result<(), NetlinkError> {
        let mut message = LinkMessage::default();
        message.header.index = index;
        self.request(
            &format!("ip link del {name}"),
            CHANGE,
            RouteNetlinkMessage::DelLink(message),
        )?;
        Ok(())
    }

    /// Gives a link an IPv4 address, and with it a route to its subnet
    /// (`ip addr add ADDRESS/PREFIX dev NAME`).
    pub fn add_address(
        &mut self,
        name: &str,
        index: u32,
        address: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), NetlinkError> {
        let mut message = AddressMessage::default();
        message.header.family = AddressFamily::Inet;
        message.header.prefix_len = prefix;
        message.header.index = index;
        // IFA_LOCAL is the address itself; IFA_ADDRESS the same on a
        // link that is not point-to-point (rtnetlink(7)).
        message.attributes = vec![
            AddressAttribute::Local(address.into()),
            AddressAttribute::Address(address.into()),
        ];
        self.request(
            &format!("ip addr add {address}/{prefix} dev {name}"),
            CREATE,
            RouteNetlinkMessage::NewAddress(message),
        )?;
        Ok(())
    }

    /// Adds the default route: anything not on a connected subnet goes to
    /// `gateway` (`ip route add default via GATEWAY`).
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<(), NetlinkError> {
        let mut message = RouteMessage::default();
        message.header.address_family = AddressFamily::Inet;
        message.header.destination_prefix_length = 0;
        message.header.table = RouteHeader::RT_TABLE_MAIN;
        message.header.protocol = RouteProtocol::Boot;
        message.header.scope = RouteScope::Universe;
        message.header.kind = RouteType::Unicast;
        message.attributes = vec![RouteAttribute::Gateway(RouteAddress::Inet(gateway))];
        self.request(
            &format!("ip route add default via {gateway}"),
            CREATE,
            RouteNetlinkMessage::NewRoute(message),
        )?;
        Ok(())
    }

    /// The names of every link in this namespace (`ip link show`).
    pub fn link_names(&mut self) -> Result<Vec<String>, NetlinkError> {
        use netlink_packet_core::NLM_F_DUMP;
        let request = "ip link show";
        self.sequence += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(
            header,
            NetlinkPayload::from(RouteNetlinkMessage::GetLink(LinkMessage::default())),
        );
        packet.finalize();
        let mut buffer = vec![0; packet.buffer_len()];
        packet.serialize(&mut buffer);
        let io_error = |source| NetlinkError::Io {
            request: request.into(),
            source,
        };
        self.socket.send(&buffer, 0).map_err(io_error)?;
        let mut names = Vec::new();
        loop {
            let (bytes, _) = self.socket.recv_from_full().map_err(io_error)?;
            let mut offset = 0;
            while offset < bytes.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes[offset..])
                    .map_err(|e| NetlinkError::Decode {
                        request: request.into(),
                        detail: e.to_string(),
                    })?;
                offset += (reply.header.length as usize).max(1);
                match reply.payload {
                    NetlinkPayload::Done(_) => return Ok(names),
                    NetlinkPayload::Error(error) if error.code.is_some() => {
                        return Err(NetlinkError::Refused {
                            request: request.into(),
                            source: Errno::from_raw(-error.raw_code()),
                        })
                    }
                    NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => names
                        .extend(link.attributes.into_iter().filter_map(|a| match a {
                            LinkAttribute::IfName(name) => Some(name),
                            _ => None,
                        })),
                    _ => {}
                }
            }
        }
    }
}

/// The message type's name, as rtnetlink(7) spells it.
fn message_name(message: &RouteNetlinkMessage) -> &'static str {
    match message {
        RouteNetlinkMessage::NewLink(_) => "RTM_NEWLINK",
        RouteNetlinkMessage::DelLink(_) => "RTM_DELLINK",
        RouteNetlinkMessage::GetLink(_) => "RTM_GETLINK",
        RouteNetlinkMessage::NewAddress(_) => "RTM_NEWADDR",
        RouteNetlinkMessage::NewRoute(_) => "RTM_NEWROUTE",
        _ => "rtnetlink",
    }
}
