//! The relay against a hostile connector: the test plays nsbox-connect over a real
//! SOCK_SEQPACKET pair, and a `sleep` child (its pidfd) stands in for the container.
//!
//! Leaks are checked by object, not by counting every fd: the tests of this binary run in
//! parallel threads of one process, so only fds pointing at what a test made are its own.

use std::io::{ErrorKind, IoSlice, Read};
use std::net::{SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::socket::{AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, sendmsg, socketpair};

use super::{Connector, Forwarder, Limits, Listeners};
use crate::net::Port;

/// How long anything may take before a test calls it a hang (a guard, not a latency check).
const HANG_GUARD: Duration = Duration::from_secs(10);

/// A running forwarder, the test's end of its connector socket and the stand-in container.
struct Rig {
    forwarder: Option<Forwarder>,
    connector: OwnedFd,
    container: Child,
    address: SocketAddr,
}

impl Rig {
    fn start(limits: Limits) -> Rig {
        let (ours, theirs) =
            socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).unwrap();
        let container = Command::new("sleep").arg("1000").spawn().unwrap();
        // SAFETY: pidfd_open takes a pid and flags.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, container.id() as libc::pid_t, 0) };
        assert!(pidfd >= 0, "pidfd_open: {}", std::io::Error::last_os_error());
        // SAFETY: a new fd that nothing else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) };
        let listeners = Listeners::bind(&[Port::tcp(0, 7000)]).unwrap();
        let forwarder = Forwarder::start_with(listeners, Connector::Helper(ours), pidfd, limits).unwrap();
        let address = forwarder.ports()[0].host;
        Rig {
            forwarder: Some(forwarder),
            connector: theirs,
            container,
            address,
        }
    }

    /// The next request the relay sent, as the connector reads it.
    fn request(&self) -> [u8; 4] {
        assert!(
            readable(self.connector.as_fd(), HANG_GUARD),
            "no request from the relay"
        );
        let mut request = [0u8; 8];
        // SAFETY: request is a live buffer of the size passed.
        let n = unsafe { libc::recv(self.connector.as_raw_fd(), request.as_mut_ptr().cast(), 8, 0) };
        assert_eq!(n, 4, "a request is 4 bytes");
        [request[0], request[1], request[2], request[3]]
    }

    /// Replies "connected" with `fds` attached, then closes the test's copies.
    fn reply(&self, fds: Vec<OwnedFd>) {
        let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        let rights = [ControlMessage::ScmRights(&raw)];
        let errno = 0i32.to_le_bytes();
        sendmsg::<()>(
            self.connector.as_raw_fd(),
            &[IoSlice::new(&errno)],
            if raw.is_empty() { &[] } else { &rights },
            MsgFlags::empty(),
            None,
        )
        .unwrap();
    }

    /// Kills the stand-in container and stops the forwarder; panics if stopping hangs.
    fn kill_and_stop(mut self) -> OwnedFd {
        self.container.kill().unwrap();
        self.container.wait().unwrap();
        stop_within(self.forwarder.take().unwrap(), HANG_GUARD);
        self.connector.try_clone().unwrap()
    }
}

impl Drop for Rig {
    /// After a failed assertion: kill the stand-in and stop on another thread, so a hung
    /// forwarder fails its test instead of hanging the test binary.
    fn drop(&mut self) {
        let _ = self.container.kill();
        let _ = self.container.wait();
        if let Some(mut forwarder) = self.forwarder.take() {
            std::thread::spawn(move || forwarder.stop());
        }
    }
}

fn readable(fd: std::os::fd::BorrowedFd<'_>, limit: Duration) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    let ms = PollTimeout::try_from(limit.as_millis() as i32).unwrap();
    poll(&mut fds, ms).unwrap() == 1
}

fn stop_within(mut forwarder: Forwarder, limit: Duration) {
    let (done, stopped) = mpsc::channel();
    std::thread::spawn(move || {
        forwarder.stop();
        let _ = done.send(());
    });
    stopped
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("the forwarder did not stop within {limit:?}"));
}

/// Whether `client` was reset by the forwarder (read fails with ECONNRESET).
fn assert_reset(client: &mut TcpStream) {
    client.set_read_timeout(Some(HANG_GUARD)).unwrap();
    let mut byte = [0u8; 1];
    match client.read(&mut byte) {
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!("the client was not reset: {other:?}"),
    }
}

/// (st_dev, st_ino): which object an fd points at.
fn identity(fd: impl AsFd) -> (u64, u64) {
    let stat = nix::sys::stat::fstat(fd.as_fd()).unwrap();
    (stat.st_dev, stat.st_ino)
}

/// How many of this process's fds point at one of `objects`.
fn open_fds_on(objects: &[(u64, u64)]) -> usize {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::metadata(e.path()).ok())
        .filter(|m| objects.contains(&(m.dev(), m.ino())))
        .count()
}

/// Waits (bounded) until none of this process's fds points at `objects`.
fn assert_all_closed(objects: &[(u64, u64)]) {
    let deadline = Instant::now() + HANG_GUARD;
    while open_fds_on(objects) > 0 {
        assert!(Instant::now() < deadline, "received fds are still open in the caller");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// This process's TCP sockets on local `port` other than the listener: the clients the relay
/// accepted and holds.
fn accepted_on(port: u16) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<RawFd>().ok())
        .filter(|fd| {
            let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            // SAFETY: addr and len are live out-parameters; a stale fd number only fails or
            // names some other object, which the port check then excludes.
            let named = unsafe { libc::getsockname(*fd, (&raw mut addr).cast(), &mut len) } == 0;
            let mut listening: libc::c_int = 0;
            let mut size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: as above.
            let known = unsafe {
                libc::getsockopt(
                    *fd,
                    libc::SOL_SOCKET,
                    libc::SO_ACCEPTCONN,
                    (&raw mut listening).cast(),
                    &mut size,
                )
            } == 0;
            named
                && known
                && listening == 0
                && addr.sin_family == libc::AF_INET as libc::sa_family_t
                && u16::from_be(addr.sin_port) == port
        })
        .count()
}

fn test_limits() -> Limits {
    Limits {
        reply_timeout: Duration::from_secs(1),
        ..Limits::DEFAULT
    }
}

#[test]
fn a_connector_that_never_answers_resets_the_client_within_the_bound() {
    let rig = Rig::start(Limits::DEFAULT);
    let mut client = TcpStream::connect(rig.address).unwrap();
    assert_eq!(rig.request(), [b't', 0, 0x58, 0x1b]);
    assert!(Limits::DEFAULT.reply_timeout < HANG_GUARD);
    assert_reset(&mut client);
    rig.kill_and_stop();
}

#[test]
fn stop_returns_when_the_container_dies_with_a_request_unanswered() {
    let rig = Rig::start(Limits::DEFAULT);
    let _client = TcpStream::connect(rig.address).unwrap();
    rig.request();
    let connector = rig.kill_and_stop();
    assert!(readable(connector.as_fd(), HANG_GUARD));
    // SAFETY: a live 1-byte buffer.
    let n = unsafe { libc::recv(connector.as_raw_fd(), [0u8; 1].as_mut_ptr().cast(), 1, 0) };
    assert_eq!(n, 0, "the forwarder's end of the connector socket is still open");
}

/// Sends `fds` as the reply to a TCP request; every one must be closed and the client reset.
fn hostile_reply_is_closed_and_resets_the_client(fds: Vec<OwnedFd>) {
    let objects: Vec<(u64, u64)> = fds.iter().map(identity).collect();
    let rig = Rig::start(Limits::DEFAULT);
    let mut client = TcpStream::connect(rig.address).unwrap();
    rig.request();
    rig.reply(fds);
    assert_reset(&mut client);
    assert_all_closed(&objects);
    rig.kill_and_stop();
}

fn tcp_socket() -> OwnedFd {
    OwnedFd::from(TcpListener::bind("127.0.0.1:0").unwrap())
}

#[test]
fn a_reply_with_two_sockets_closes_both_and_resets_the_client() {
    hostile_reply_is_closed_and_resets_the_client(vec![tcp_socket(), tcp_socket()]);
}

#[test]
fn a_reply_with_more_fds_than_asked_for_closes_them_all_and_resets_the_client() {
    hostile_reply_is_closed_and_resets_the_client((0..16).map(|_| tcp_socket()).collect());
}

#[test]
fn a_reply_with_a_pipe_instead_of_a_socket_is_closed_and_resets_the_client() {
    // Both ends are one object (one inode): only the read end may stay open.
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(write);
    hostile_reply_is_closed_and_resets_the_client(vec![read]);
}

#[test]
fn a_reply_with_a_unix_socket_is_closed_and_resets_the_client() {
    let (one, _other) = UnixStream::pair().unwrap();
    hostile_reply_is_closed_and_resets_the_client(vec![OwnedFd::from(one)]);
}

#[test]
fn a_reply_with_a_udp_socket_for_a_tcp_request_is_closed_and_resets_the_client() {
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    hostile_reply_is_closed_and_resets_the_client(vec![OwnedFd::from(udp)]);
}

#[test]
fn a_reply_without_a_socket_resets_the_client() {
    hostile_reply_is_closed_and_resets_the_client(Vec::new());
}

#[test]
fn a_valid_reply_is_relayed() {
    let rig = Rig::start(Limits::DEFAULT);
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(rig.address).unwrap();
    rig.request();
    let inner = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    rig.reply(vec![OwnedFd::from(inner)]);
    let (mut accepted, _) = server.accept().unwrap();
    std::io::Write::write_all(&mut accepted, b"hello").unwrap();
    drop(accepted);
    client.set_read_timeout(Some(HANG_GUARD)).unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"hello");
    rig.kill_and_stop();
}

#[test]
fn two_hundred_clients_against_a_silent_connector_hold_a_bounded_number_of_fds() {
    let rig = Rig::start(test_limits());
    let port = rig.address.port();
    let SocketAddr::V4(target) = rig.address else {
        unreachable!()
    };
    let bound = Limits::DEFAULT.pending + 2;
    let mut most = 0;
    let clients: Vec<TcpStream> = (0..200)
        .map(|_| {
            most = most.max(accepted_on(port));
            TcpStream::from(super::tcp::connect_nonblocking(SocketAddrV4::new(*target.ip(), target.port())).unwrap())
        })
        .collect();
    // Through at least two reply timeouts, so abandoned requests were replaced if they ever are.
    let until = Instant::now() + 3 * test_limits().reply_timeout;
    while Instant::now() < until {
        most = most.max(accepted_on(port));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(most > 0, "the relay accepted no client");
    assert!(most <= bound, "the relay held {most} clients at once (bound {bound})");
    rig.kill_and_stop();
    assert_eq!(accepted_on(port), 0, "accepted clients are still open after stop");
    drop(clients);
}
