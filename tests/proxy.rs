//! `-p`: the userland proxy, on real sockets, inside a network namespace
//! this test makes (the host's network is never touched).
//!
//! The test binary runs itself again in a new network namespace
//! (unshare(2) with `CLONE_NEWNET`, between fork and exec), where only `lo`
//! exists; there an echo server on 127.0.0.2 stands for the container, and
//! the proxy listens on 127.0.0.1, as it would on the host.

mod common;

use nslab::engine::proxy::{self, ProxyError, Published};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

/// Set (to the outer network namespace) in the run inside the new one.
const OUTER_NET: &str = "NSLAB_PROXY_TEST_OUTER_NET";

/// Runs `test` (this binary's test of that name) again in a new network
/// namespace, and fails if it fails there. Returns true in the inner run,
/// which goes on with the test itself.
fn in_new_network_namespace(test: &str) -> bool {
    let here = common::host_namespace("net");
    if let Ok(outer) = std::env::var(OUTER_NET) {
        // The inner run: never go on in the namespace we were started in.
        assert_ne!(here, outer, "not in a network namespace of our own");
        let status = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("running ip (iproute2)");
        assert!(status.success(), "ip link set lo up");
        return true;
    }
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--include-ignored", "--nocapture"])
        .env(OUTER_NET, &here);
    // SAFETY: unshare(2) only, in the child between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
        });
    }
    let out = common::output_with_timeout(&mut cmd, common::TIMEOUT);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "in the network namespace:\n{text}");
    // The harness says "1 passed" when the test ran, "0 passed" if its
    // name did not match: a test that ran nothing must not pass.
    assert!(
        text.contains("1 passed"),
        "the inner test did not run:\n{text}"
    );
    false
}

/// An echo server standing for the container on `address`: for each
/// connection, reads until end-of-file, then answers `peer IP, N bytes:`
/// and the bytes, then closes. It answers only after end-of-file, so a
/// half-close that does not get through the proxy hangs the client.
fn echo_server(address: SocketAddrV4) {
    let listener = TcpListener::bind(address).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut data = Vec::new();
                stream.read_to_end(&mut data).unwrap();
                let peer = stream.peer_addr().unwrap().ip();
                let _ = write!(stream, "peer {peer}, {} bytes:", data.len());
                let _ = stream.write_all(&data);
            });
        }
    });
}

/// Connects from `source` (a loopback address of our choosing) to `to`.
fn connect_from(source: Ipv4Addr, to: SocketAddrV4) -> std::io::Result<TcpStream> {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    bind(
        fd.as_raw_fd(),
        &SockaddrIn::from(SocketAddrV4::new(source, 0)),
    )?;
    connect(fd.as_raw_fd(), &SockaddrIn::from(to))?;
    Ok(TcpStream::from(fd))
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_connection_goes_through_and_half_close_works() {
    require_root!();
    if !in_new_network_namespace("a_connection_goes_through_and_half_close_works") {
        return;
    }
    let container = Ipv4Addr::new(127, 0, 0, 2);
    echo_server(SocketAddrV4::new(container, 7000));
    let published: Published = "127.0.0.1:8080:7000".parse().unwrap();
    let proxies = proxy::start(std::slice::from_ref(&published), container).unwrap();
    assert_eq!(proxies.published(), [published]);

    // Twice, on the same listener; a megabyte each way, so that the copy
    // loops more than once.
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    for _ in 0..2 {
        let client = Ipv4Addr::new(127, 0, 0, 3);
        let mut stream = connect_from(client, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080))
            .expect("connecting to the proxy");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(&payload).unwrap();
        // The half-close: done writing, still reading.
        stream.shutdown(Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .expect("no answer: the end-of-file did not reach the server");
        let header = format!("peer 127.0.0.1, {} bytes:", payload.len());
        assert!(
            answer.starts_with(header.as_bytes()),
            "{:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(60)])
        );
        // The server saw the proxy (127.0.0.1), not the client (127.0.0.3):
        // the price of a userland proxy.
        assert_eq!(&answer[header.len()..], &payload[..], "the bytes differ");
    }
    drop(proxies);
}

#[test]
#[ignore = "needs root: run by scripts/test.sh as root"]
fn a_busy_port_fails_first_and_dropping_frees_the_port() {
    require_root!();
    if !in_new_network_namespace("a_busy_port_fails_first_and_dropping_frees_the_port") {
        return;
    }
    let container = Ipv4Addr::new(127, 0, 0, 2);
    let first: Published = "127.0.0.1:8081:7001".parse().unwrap();
    let second: Published = "127.0.0.1:8082:7002".parse().unwrap();
    let proxies = proxy::start(std::slice::from_ref(&first), container).unwrap();

    // Taken: a second start fails, naming the port and who to ask, and
    // binds nothing it was given before the busy one... nor after.
    let error = proxy::start(&[second, first], container).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(&error, ProxyError::Bind { source, .. } if source.kind() == ErrorKind::AddrInUse),
        "{error:?}"
    );
    assert!(
        message.contains("port 8081 is already in use") && message.contains("ss -ltnp"),
        "{message}"
    );
    TcpListener::bind("127.0.0.1:8082").expect("the failed start kept 8082");

    // No server at the container's port: the client's connection is
    // closed, not left hanging.
    let mut stream = TcpStream::connect("127.0.0.1:8081").unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buffer = [0u8; 16];
    match stream.read(&mut buffer) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("expected the connection closed, got {other:?}"),
    }

    drop(proxies);
    // Nobody listens any more, and the port can be bound again at once.
    let refused = TcpStream::connect("127.0.0.1:8081").unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "{refused}");
    TcpListener::bind("127.0.0.1:8081").expect("the port outlived the proxies");
}
