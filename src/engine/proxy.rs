//! Published ports: a userland proxy from a host port to a container's.
//!
//! `nslab run -p 8080:80 IMAGE` makes the container's port 80 reachable
//! at the host's port 8080, as `docker run -p` does. The container lives
//! in a network namespace of its own (lesson 06), behind the `nslab0`
//! bridge; nothing outside the host can route to its address, and nothing
//! on the host listens on 8080. So the engine listens there itself, and
//! copies each connection's bytes to the container's address and back:
//!
//! ```text
//! client ──► 0.0.0.0:8080 (this proxy, on the host)
//!                 │  connect(10.213.0.2:80) for each client
//!                 ▼
//!            container 10.213.0.2:80
//! ```
//!
//! Why in user space, and not with a firewall rule: docker usually rewrites
//! the destination in the kernel instead (an iptables `DNAT` rule), and
//! keeps this proxy (`docker-proxy`) for the cases the rule misses. nslab
//! adds no firewall rules to the learner's host, whose firewall may be
//! managed by something else (firewalld, ufw, nftables) and would outlive
//! a killed lesson, and it never NATs (see DESIGN.md, Tests: nothing is
//! routed or NATed). A proxy is a process: it ends with the engine's
//! monitor, and leaves nothing behind.
//!
//! What it costs: every byte crosses user space twice (in, out) and each
//! connection holds two threads; and the container sees the *proxy's*
//! address (the host's end of the bridge) as the client's, not the real
//! client's: a web server's access log shows the host for every request.
//! That is the price docker's userland proxy pays too.
//!
//! TCP only: a UDP "connection" has no end to detect, and forwarding
//! datagrams back to the right client needs a table of recent peers; not
//! done.

use crate::narrate;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// One `-p` spec: `[IP:]HOSTPORT:CTRPORT[/tcp]` (udp is refused with a
/// clear error: not done).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Published {
    /// The host address to listen on; `0.0.0.0` (every address of the
    /// host, reachable from other machines too) unless one is given, as
    /// with docker: `-p 127.0.0.1:8080:80` keeps the port to this host.
    pub host_ip: Ipv4Addr,
    /// The host's port.
    pub host_port: u16,
    /// The container's port, at its own address.
    pub container_port: u16,
}

/// `0.0.0.0:8080->80/tcp`, as `docker ps` shows a published port.
impl std::fmt::Display for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}->{}/tcp",
            self.host_ip, self.host_port, self.container_port
        )
    }
}

/// A port number from `-p`: 1 to 65535.
fn parse_port(text: &str, which: &str) -> Result<u16, String> {
    let number: u64 = text.parse().map_err(|_| {
        if text.is_empty() {
            format!("the {which} is missing: write HOSTPORT:CTRPORT, such as 8080:80")
        } else {
            format!("the {which} {text:?} is not a number")
        }
    })?;
    match number {
        0 => Err(format!(
            "the {which} is 0, which is not a port: use 1 to 65535 \
             (nslab does not pick a free host port for you)"
        )),
        1..=65535 => Ok(number as u16),
        _ => Err(format!(
            "the {which} {number} is above 65535, the highest port"
        )),
    }
}

impl FromStr for Published {
    type Err = String;

    /// `8080:80`, `127.0.0.1:8080:80`, `8080:80/tcp`.
    fn from_str(spec: &str) -> Result<Published, String> {
        let (ports, protocol) = match spec.rsplit_once('/') {
            Some((ports, protocol)) => (ports, Some(protocol)),
            None => (spec, None),
        };
        match protocol {
            None | Some("tcp") => {}
            Some("udp") | Some("sctp") => {
                return Err(format!(
                    "only tcp ports can be published: nslab's proxy does not forward {} (not done)",
                    protocol.unwrap_or_default()
                ))
            }
            Some(other) => {
                return Err(format!(
                    "{other:?} is not a protocol: write /tcp, or nothing"
                ))
            }
        }
        if ports.starts_with('[') {
            return Err(
                "IPv6 host addresses are not supported: give an IPv4 address, or none".into(),
            );
        }
        let parts: Vec<&str> = ports.split(':').collect();
        let (host_ip, host_port, container_port) = match parts[..] {
            [single] => {
                return Err(format!(
                    "give both ports, HOSTPORT:CTRPORT (such as {single}:{single}): \
                     nslab does not pick a host port for you"
                ))
            }
            [host, container] => (None, host, container),
            [ip, host, container] => (Some(ip), host, container),
            _ => {
                return Err(
                    "too many colons: write [IP:]HOSTPORT:CTRPORT, such as 127.0.0.1:8080:80"
                        .into(),
                )
            }
        };
        let host_ip = match host_ip {
            None => Ipv4Addr::UNSPECIFIED,
            Some(ip) => ip
                .parse()
                .map_err(|_| format!("{ip:?} is not an IPv4 address (such as 127.0.0.1)"))?,
        };
        Ok(Published {
            host_ip,
            host_port: parse_port(host_port, "host port")?,
            container_port: parse_port(container_port, "container port")?,
        })
    }
}

/// What can go wrong while publishing ports.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// bind(2) or listen(2) on the host's port failed: the port is taken,
    /// privileged, or the address is not the host's.
    #[error("failed to listen on {address}{}", bind_reason(.address, .source))]
    Bind {
        /// The host address and port.
        address: SocketAddrV4,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// The same host address and port asked for twice.
    #[error("host port {address} is published twice (0.0.0.0 includes every address)")]
    Duplicate {
        /// The host address and port.
        address: SocketAddrV4,
    },
    /// A thread to serve a port could not be started.
    #[error("failed to start the thread that serves {address}")]
    Spawn {
        /// The host address and port.
        address: SocketAddrV4,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// What a failed bind means, said in the message itself: the engine
/// shows this error's message, and the port and who holds it are what
/// the learner needs.
fn bind_reason(address: &SocketAddrV4, source: &io::Error) -> String {
    let port = address.port();
    match source.kind() {
        io::ErrorKind::AddrInUse => format!(
            ": port {port} is already in use on this host (`ss -ltnp 'sport = :{port}'` shows who listens there)"
        ),
        io::ErrorKind::PermissionDenied => format!(
            ": ports below 1024 need root (CAP_NET_BIND_SERVICE); publish a higher host port, such as {}",
            port.saturating_add(8000)
        ),
        io::ErrorKind::AddrNotAvailable => format!(
            ": {} is not an address of this host (`ip -4 addr` lists them)",
            address.ip()
        ),
        _ => String::new(),
    }
}

impl ProxyError {
    /// Advice, where there is some.
    pub fn hint(&self) -> Option<String> {
        match self {
            ProxyError::Bind { address, source } if source.kind() == io::ErrorKind::AddrInUse => {
                Some(format!(
                    "stop what listens on port {port}, or publish another host port: -p {}:CTRPORT",
                    address.port().checked_add(1).unwrap_or(address.port() - 1),
                    port = address.port()
                ))
            }
            ProxyError::Duplicate { .. } => Some("give each -p its own host port".into()),
            _ => None,
        }
    }
}

/// How long connecting to the container may take before the client's
/// connection is closed: a container that is not listening answers at once
/// (connection refused); one that does not answer at all must not hold the
/// client forever.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Listeners bound on the host's ports, not serving yet: see [`bind`].
#[derive(Debug)]
pub struct Bound {
    listeners: Vec<(Published, TcpListener)>,
}

/// Binds every host port of `published`, and serves none yet.
///
/// The first half of [`start`], for a caller that must not have threads
/// yet: the start sequence refuses to fork a threaded process
/// ([`crate::process::ensure_single_threaded`]), so an engine that starts
/// the container in-process binds first (a busy port fails before anything
/// starts), starts the container, then calls [`Bound::serve`].
pub fn bind(published: &[Published]) -> Result<Bound, ProxyError> {
    // Checked before anything is bound. 0.0.0.0 is every address, so it
    // overlaps any other address's same port.
    for (i, each) in published.iter().enumerate() {
        let overlaps = |p: &&Published| {
            p.host_port == each.host_port
                && (p.host_ip == each.host_ip
                    || p.host_ip.is_unspecified()
                    || each.host_ip.is_unspecified())
        };
        if published[..i].iter().any(|p| overlaps(&p)) {
            return Err(ProxyError::Duplicate {
                address: SocketAddrV4::new(each.host_ip, each.host_port),
            });
        }
    }
    let mut listeners = Vec::new();
    for each in published {
        let address = SocketAddrV4::new(each.host_ip, each.host_port);
        // std's bind sets SO_REUSEADDR (as docker-proxy does): a port whose
        // last connections linger in TIME_WAIT can be listened on again at
        // once, while a port someone listens on is still refused.
        narrate::syscall(format!(
            "socket(AF_INET, SOCK_STREAM); bind({address}); listen()   # -p {}:{}: the host's end",
            each.host_port, each.container_port
        ));
        let listener =
            TcpListener::bind(address).map_err(|source| ProxyError::Bind { address, source })?;
        listeners.push((each.clone(), listener));
    }
    Ok(Bound { listeners })
}

/// Binds every listener first (so a busy port fails before the container
/// starts), then serves each on its own thread, forwarding to
/// `target:container_port`.
pub fn start(published: &[Published], target: Ipv4Addr) -> Result<Proxies, ProxyError> {
    bind(published)?.serve(target)
}

impl Bound {
    /// Serves each bound port on a thread of its own, forwarding every
    /// connection to `target:container_port`.
    pub fn serve(self, target: Ipv4Addr) -> Result<Proxies, ProxyError> {
        let mut proxies = Proxies {
            running: Vec::new(),
        };
        for (published, listener) in self.listeners {
            let address = SocketAddrV4::new(published.host_ip, published.host_port);
            let to = SocketAddrV4::new(target, published.container_port);
            // Shared with the thread: Drop shuts it down from here, and
            // the descriptor stays open (its number not reused) until both
            // are done with it.
            let listener = Arc::new(listener);
            let stop = Arc::new(AtomicBool::new(false));
            let thread = std::thread::Builder::new()
                .name(format!("proxy {}", published.host_port))
                .spawn({
                    let (listener, stop) = (listener.clone(), stop.clone());
                    move || accept_loop(&listener, &stop, to)
                })
                // Dropping `proxies` on the way out stops those started.
                .map_err(|source| ProxyError::Spawn { address, source })?;
            narrate::explain(format!(
                "connections to {address} are copied to {to} and back, by this process"
            ));
            proxies.running.push(Running {
                published,
                listener,
                stop,
                thread: Some(thread),
            });
        }
        Ok(proxies)
    }
}

/// Running proxies; dropping stops them (close the listeners; connections
/// in flight may finish).
#[derive(Debug)]
pub struct Proxies {
    running: Vec<Running>,
}

/// One port being served.
#[derive(Debug)]
struct Running {
    published: Published,
    listener: Arc<TcpListener>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Proxies {
    /// The ports being served.
    pub fn published(&self) -> Vec<Published> {
        self.running.iter().map(|r| r.published.clone()).collect()
    }
}

impl Drop for Proxies {
    fn drop(&mut self) {
        for running in &mut self.running {
            running.stop.store(true, Ordering::SeqCst);
            // Closing a descriptor does not wake a thread blocked in
            // accept(2) on it; shutdown(2) on a listening socket does (Linux
            // returns EINVAL to accept), and it stops taking connections.
            let _ = nix::sys::socket::shutdown(
                running.listener.as_raw_fd(),
                nix::sys::socket::Shutdown::Both,
            );
            // Joined, so that the listener is closed, and the port free,
            // once the drop returns. Connections in flight have threads of
            // their own, not joined: they finish on their own.
            if let Some(thread) = running.thread.take() {
                let _ = thread.join();
            }
        }
    }
}

/// Accepts connections on `listener` until `stop`, each served on a
/// thread of its own.
fn accept_loop(listener: &TcpListener, stop: &AtomicBool, to: SocketAddrV4) {
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::SeqCst) {
            return;
        }
        match accepted {
            Ok((client, _)) => {
                // If no thread can be had, the client is closed: refused.
                let _ = std::thread::Builder::new()
                    .name(format!("proxy {} conn", to.port()))
                    .spawn(move || forward(client, to));
            }
            // Out of descriptors (EMFILE) or a client gone before it was
            // accepted: wait a little rather than spin, then go on.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Copies `client`'s bytes to a new connection to `to`, and back, until
/// both sides have finished.
fn forward(client: TcpStream, to: SocketAddrV4) {
    let container = match TcpStream::connect_timeout(&to.into(), CONNECT_TIMEOUT) {
        Ok(container) => container,
        Err(error) => {
            narrate::warning(format!(
                "a client of {}: cannot connect to the container at {to}: {error}",
                client
                    .local_addr()
                    .map_or_else(|_| "?".into(), |a| a.to_string())
            ));
            // Dropped: the client sees its connection closed.
            return;
        }
    };
    let (Ok(client_reader), Ok(container_reader)) = (client.try_clone(), container.try_clone())
    else {
        return;
    };
    // One thread per direction: each blocks in read on its own side.
    let upstream = std::thread::Builder::new()
        .name(format!("proxy {} up", to.port()))
        .spawn(move || copy_then_half_close(client_reader, container));
    if upstream.is_err() {
        return;
    }
    copy_then_half_close(container_reader, client);
}

// ANCHOR: half_close
/// Copies from `from` to `to` until `from` says end-of-file, then shuts
/// down `to`'s writing side only: the peer reads end-of-file, and can
/// still answer (a half-close: `printf 'GET …' | nc -N` waits for the
/// response after sending). On an error (a reset), both directions of both
/// are shut down, so that the other direction's thread ends too.
fn copy_then_half_close(mut from: TcpStream, mut to: TcpStream) {
    match io::copy(&mut from, &mut to) {
        Ok(_) => {
            let _ = to.shutdown(Shutdown::Write);
        }
        Err(_) => {
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        }
    }
}
// ANCHOR_END: half_close

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str) -> Result<Published, String> {
        spec.parse()
    }

    #[test]
    fn hostport_ctrport_with_an_optional_address_and_tcp() {
        let expected = Published {
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 8080,
            container_port: 80,
        };
        assert_eq!(parse("8080:80"), Ok(expected.clone()));
        assert_eq!(parse("8080:80/tcp"), Ok(expected));
        assert_eq!(
            parse("127.0.0.1:8080:80"),
            Ok(Published {
                host_ip: Ipv4Addr::LOCALHOST,
                host_port: 8080,
                container_port: 80,
            })
        );
        assert_eq!(
            parse("127.0.0.1:8080:80").unwrap().to_string(),
            "127.0.0.1:8080->80/tcp"
        );
    }

    #[test]
    fn one_port_alone_asks_for_both() {
        let error = parse("80").unwrap_err();
        assert!(error.contains("HOSTPORT:CTRPORT"), "{error}");
        assert!(error.contains("80:80"), "{error}");
    }

    #[test]
    fn port_0_and_ports_above_65535_are_refused() {
        let error = parse("0:80").unwrap_err();
        assert!(error.contains("host port is 0"), "{error}");
        let error = parse("8080:0").unwrap_err();
        assert!(error.contains("container port is 0"), "{error}");
        let error = parse("70000:80").unwrap_err();
        assert!(error.contains("70000 is above 65535"), "{error}");
        let error = parse("8080:99999999999999999999").unwrap_err();
        assert!(error.contains("is not a number"), "{error}");
        let error = parse("http:80").unwrap_err();
        assert!(error.contains("\"http\" is not a number"), "{error}");
        let error = parse(":80").unwrap_err();
        assert!(error.contains("host port is missing"), "{error}");
    }

    #[test]
    fn udp_and_odd_shapes_are_refused_by_name() {
        let error = parse("53:53/udp").unwrap_err();
        assert!(
            error.contains("only tcp") && error.contains("udp"),
            "{error}"
        );
        let error = parse("80:80/http").unwrap_err();
        assert!(error.contains("\"http\" is not a protocol"), "{error}");
        let error = parse("1.2.3:80:80").unwrap_err();
        assert!(error.contains("not an IPv4 address"), "{error}");
        let error = parse("1:2:3:4").unwrap_err();
        assert!(error.contains("too many colons"), "{error}");
        let error = parse("[::1]:80:80").unwrap_err();
        assert!(error.contains("IPv6"), "{error}");
    }

    #[test]
    fn a_busy_port_names_the_port_and_who_to_ask() {
        let error = ProxyError::Bind {
            address: "0.0.0.0:8080".parse().unwrap(),
            source: io::Error::from(io::ErrorKind::AddrInUse),
        };
        let message = error.to_string();
        assert!(
            message.starts_with("failed to listen on 0.0.0.0:8080"),
            "{message}"
        );
        assert!(
            message.contains("port 8080 is already in use") && message.contains("ss -ltnp"),
            "{message}"
        );
    }

    #[test]
    fn the_same_host_port_twice_is_refused_before_binding() {
        // Nothing is bound: the check comes first (port 1 would need root).
        let twice = [
            parse("127.0.0.1:1:80").unwrap(),
            parse("127.0.0.1:1:81").unwrap(),
        ];
        assert!(matches!(bind(&twice), Err(ProxyError::Duplicate { .. })));
        let overlapping = [parse("127.0.0.1:1:80").unwrap(), parse("1:81").unwrap()];
        assert!(matches!(
            bind(&overlapping),
            Err(ProxyError::Duplicate { .. })
        ));
    }
}
