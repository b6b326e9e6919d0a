//! The relay against a hostile connector: the test plays nsbox-connect over a real
//! SOCK_SEQPACKET pair, and a `sleep` child (its pidfd) stands in for the container. Then the
//! gate (when a published port listens) as pure logic, the host listener's reservation and
//! listen/unlisten cycle on the running kernel, and the relay's probing.
//!
//! Leaks are checked by object, not by counting every fd: the tests of this binary run in
//! parallel threads of one process, so only fds pointing at what a test made are its own.

use std::io::{ErrorKind, IoSlice, Read, Write};
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
    /// Stands in for the server inside: probes the rig answers connect to it.
    inside: TcpListener,
}

impl Rig {
    /// A forwarder whose port listens: the rig answered its first probe with a connection,
    /// which served a first client; the next clients ask the connector.
    fn start(limits: Limits) -> Rig {
        let rig = Rig::start_probing(limits);
        assert_eq!(rig.request(), [b't', 0, 0x58, 0x1b], "the first request is a probe");
        rig.reply(vec![rig.inside_connection()]);
        rig.wait_until_accepting(true);
        rig.first_client_gets_the_probes_connection();
        rig
    }

    /// Connects a client and checks that it is relayed through the probe's connection (the
    /// connector is not asked: it would not answer).
    fn first_client_gets_the_probes_connection(&self) {
        let (mut probe, _) = self.inside.accept().unwrap();
        let mut client = TcpStream::connect(self.address).unwrap();
        client.write_all(b"hi").unwrap();
        probe.set_read_timeout(Some(HANG_GUARD)).unwrap();
        let mut got = [0u8; 2];
        probe.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hi");
        probe.write_all(b"yo").unwrap();
        drop(probe);
        client.set_read_timeout(Some(HANG_GUARD)).unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).unwrap();
        assert_eq!(answer, b"yo");
    }

    /// A forwarder whose first probe is not answered yet.
    fn start_probing(limits: Limits) -> Rig {
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
            inside: TcpListener::bind("127.0.0.1:0").unwrap(),
        }
    }

    /// A connected socket to the stand-in server, as the connector would make one.
    fn inside_connection(&self) -> OwnedFd {
        OwnedFd::from(TcpStream::connect(self.inside.local_addr().unwrap()).unwrap())
    }

    fn accepting(&self) -> bool {
        let forwarder = self.forwarder.as_ref().unwrap();
        forwarder.accepting(&forwarder.ports()[0])
    }

    /// Waits (bounded) until the port listens (`true`) or does not, by the forwarder's flag and
    /// the kernel's table alike: the flag turns false just before the socket stops listening
    /// (`Listener::apply`), and a connect made right after must be refused.
    fn wait_until_accepting(&self, wanted: bool) {
        let deadline = Instant::now() + HANG_GUARD;
        while self.accepting() != wanted || listens(self.address) != wanted {
            assert!(Instant::now() < deadline, "the port never became accepting={wanted}");
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Replies with an errno and no socket.
    fn fail(&self, errno: i32) {
        let errno = errno.to_le_bytes();
        sendmsg::<()>(
            self.connector.as_raw_fd(),
            &[IoSlice::new(&errno)],
            &[],
            MsgFlags::empty(),
            None,
        )
        .unwrap();
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
    let mut client = TcpStream::connect(rig.address).unwrap();
    rig.request();
    let connector = rig.kill_and_stop();
    // Nothing answered it: a reset, not an empty reply.
    assert_reset(&mut client);
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

// The gate: when a published TCP port listens (pure logic).

mod gate {
    use std::time::{Duration, Instant};

    use super::super::gate::{Change, FIRST_BACKOFF, Gate, MAX_BACKOFF};

    #[test]
    fn a_new_gate_probes_at_once_and_waits_for_its_probe() {
        let now = Instant::now();
        let mut gate = Gate::new(now);
        assert!(!gate.is_open());
        assert!(gate.probe_due(now));
        gate.probe_sent();
        assert!(!gate.probe_due(now + Duration::from_secs(60)), "two probes in flight");
        assert_eq!(gate.deadline(), None);
    }

    #[test]
    fn failed_probes_back_off_from_the_first_delay_to_the_longest() {
        let mut now = Instant::now();
        let mut gate = Gate::new(now);
        let mut delays = Vec::new();
        for _ in 0..7 {
            gate.probe_sent();
            assert_eq!(gate.probe_done(false, now), Change::Nothing);
            let next = gate.deadline().unwrap();
            assert!(!gate.probe_due(next - Duration::from_nanos(1)));
            assert!(gate.probe_due(next));
            delays.push(next - now);
            now = next;
        }
        assert_eq!(delays[0], FIRST_BACKOFF);
        assert!(delays.windows(2).all(|w| w[1] >= w[0]), "{delays:?}");
        assert_eq!(*delays.last().unwrap(), MAX_BACKOFF);
        assert!(delays.iter().all(|d| *d <= MAX_BACKOFF), "{delays:?}");
    }

    #[test]
    fn a_connected_probe_opens_the_gate_and_a_refusal_closes_it_and_probes_again_soon() {
        let now = Instant::now();
        let mut gate = Gate::new(now);
        for _ in 0..5 {
            gate.probe_sent();
            gate.probe_done(false, now);
        }
        gate.probe_sent();
        assert_eq!(gate.probe_done(true, now), Change::Listen);
        assert!(gate.is_open());
        assert_eq!(gate.deadline(), None, "an open gate does not probe");
        assert_eq!(gate.refused(now), Change::Unlisten);
        assert!(!gate.is_open());
        assert_eq!(gate.deadline(), Some(now + FIRST_BACKOFF), "the backoff starts over");
        assert_eq!(gate.refused(now), Change::Nothing, "already closed");
    }

    #[test]
    fn a_shut_gate_never_probes_nor_opens() {
        let now = Instant::now();
        let mut open = Gate::new(now);
        open.probe_sent();
        open.probe_done(true, now);
        assert_eq!(open.shut(), Change::Unlisten);
        let mut probing = Gate::new(now);
        probing.probe_sent();
        assert_eq!(probing.shut(), Change::Nothing);
        for mut gate in [open, probing] {
            assert_eq!(gate.probe_done(true, now), Change::Nothing, "a late probe opened it");
            assert!(!gate.probe_due(now + Duration::from_secs(60)));
            assert_eq!(gate.refused(now), Change::Nothing);
            assert!(!gate.is_open());
        }
    }

    #[test]
    fn a_failed_listen_closes_the_gate_for_the_longest_delay() {
        let now = Instant::now();
        let mut gate = Gate::new(now);
        gate.probe_sent();
        gate.probe_done(true, now);
        gate.listen_failed(now);
        assert!(!gate.is_open());
        assert_eq!(gate.deadline(), Some(now + MAX_BACKOFF));
    }
}

// The host listener on the running kernel.

use super::gate::Change;
use super::listener::HostListener;

/// Whether a socket of this network namespace listens on `address` (IPv4).
fn listens(address: SocketAddr) -> bool {
    in_tcp_state(address, "0A")
}

/// Whether the IPv4 TCP socket bound to `local` is in `state` (the kernel's hex code: 0A LISTEN,
/// 08 CLOSE_WAIT), from /proc/net/tcp.
fn in_tcp_state(local: SocketAddr, state: &str) -> bool {
    let SocketAddr::V4(local) = local else { unreachable!() };
    let wanted = format!("{:08X}:{:04X}", u32::from_le_bytes(local.ip().octets()), local.port());
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
        .any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1) == Some(&wanted.as_str()) && fields.get(3) == Some(&state)
        })
}

fn connect_error(address: SocketAddr) -> Option<ErrorKind> {
    TcpStream::connect_timeout(&address, HANG_GUARD).err().map(|e| e.kind())
}

/// Whether another socket (with SO_REUSEADDR, as std's and most servers' are) can take
/// `address`, bound or listening.
fn another_socket_can_take(address: SocketAddr) -> bool {
    TcpListener::bind(address).is_ok()
}

fn host_listener(port: u16) -> (HostListener, SocketAddr) {
    let listener = HostListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let address = listener.local_addr().unwrap();
    (listener, address)
}

#[test]
fn a_bound_host_listener_refuses_connections_and_reserves_its_port() {
    let (_listener, address) = host_listener(0);
    assert_ne!(address.port(), 0);
    assert_eq!(connect_error(address), Some(ErrorKind::ConnectionRefused));
    assert!(
        !another_socket_can_take(address),
        "the port is not reserved while bound"
    );
}

#[test]
fn an_explicit_port_is_reserved_too() {
    let free = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (_listener, address) = host_listener(free);
    assert_eq!(address.port(), free);
    assert_eq!(connect_error(address), Some(ErrorKind::ConnectionRefused));
    assert!(!another_socket_can_take(address));
}

/// Listen, serve one connection that the forwarder's side closes first (TIME_WAIT on the
/// port), leave one client in the accept queue, stop listening: three times over.
#[test]
fn unlisten_resets_the_accept_queue_keeps_the_port_and_listen_works_again() {
    let now = Instant::now();
    let (mut listener, address) = host_listener(0);
    for round in 0..3 {
        listener.gate_mut().probe_sent();
        let change = listener.gate_mut().probe_done(true, now);
        listener.apply(change, now);
        assert!(listener.gate().is_open(), "round {round}: listen failed");
        assert!(!another_socket_can_take(address));
        let mut served = TcpStream::connect(address).unwrap();
        let accepted = wait_accept(&listener);
        drop(accepted); // the forwarder's side closes first: TIME_WAIT on the port
        let mut rest = Vec::new();
        served.read_to_end(&mut rest).unwrap();
        let mut queued = TcpStream::connect(address).unwrap();
        let change = listener.gate_mut().refused(now);
        listener.apply(change, now);
        assert!(!listener.gate().is_open());
        assert_reset(&mut queued);
        assert_eq!(
            connect_error(address),
            Some(ErrorKind::ConnectionRefused),
            "round {round}"
        );
        assert_eq!(listener.local_addr().unwrap(), address, "the port changed");
        assert!(
            !another_socket_can_take(address),
            "round {round}: the port is not reserved"
        );
    }
    // The flag other threads read follows, and is false once the listener is gone.
    let flag = listener.open_flag();
    assert!(!flag.load(std::sync::atomic::Ordering::Acquire));
    listener.gate_mut().probe_sent();
    let change = listener.gate_mut().probe_done(true, now);
    assert_eq!(change, Change::Listen);
    listener.apply(change, now);
    assert!(flag.load(std::sync::atomic::Ordering::Acquire));
    drop(listener);
    assert!(!flag.load(std::sync::atomic::Ordering::Acquire));
    assert!(another_socket_can_take(address), "the port stays taken after drop");
}

fn wait_accept(listener: &HostListener) -> TcpStream {
    let deadline = Instant::now() + HANG_GUARD;
    loop {
        match listener.accept() {
            Ok(client) => return client,
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

// The relay's probing.

#[test]
fn the_port_refuses_until_a_probe_connects_inside() {
    let rig = Rig::start_probing(Limits::DEFAULT);
    assert_eq!(connect_error(rig.address), Some(ErrorKind::ConnectionRefused));
    // Nothing listens inside: probes are refused, and sent again.
    for _ in 0..3 {
        assert_eq!(rig.request(), [b't', 0, 0x58, 0x1b]);
        rig.fail(libc::ECONNREFUSED);
        assert_eq!(connect_error(rig.address), Some(ErrorKind::ConnectionRefused));
    }
    assert!(!rig.accepting());
    rig.request();
    rig.reply(vec![rig.inside_connection()]);
    rig.wait_until_accepting(true);
    // The probe's connection serves the first client; the next one asks the connector.
    rig.first_client_gets_the_probes_connection();
    let _client = TcpStream::connect(rig.address).unwrap();
    assert_eq!(rig.request(), [b't', 0, 0x58, 0x1b]);
    rig.kill_and_stop();
}

#[test]
fn a_probe_connection_the_server_closed_silently_is_not_handed_to_a_client() {
    let rig = Rig::start_probing(Limits::DEFAULT);
    rig.request();
    rig.reply(vec![rig.inside_connection()]);
    rig.wait_until_accepting(true);
    // The server closes the probe's connection without a byte (an idle timeout)...
    let (probe, _) = rig.inside.accept().unwrap();
    let relay_side = probe.peer_addr().unwrap();
    drop(probe);
    // ...which the relay sees once the FIN arrived; until then a client could still get it.
    let deadline = Instant::now() + HANG_GUARD;
    while !in_close_wait(relay_side) {
        assert!(
            Instant::now() < deadline,
            "the FIN never reached the probe's connection"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut client = TcpStream::connect(rig.address).unwrap();
    // The client gets a connection of its own, not the closed one.
    rig.request();
    rig.reply(vec![rig.inside_connection()]);
    let (mut served, _) = rig.inside.accept().unwrap();
    served.write_all(b"fresh").unwrap();
    drop(served);
    client.set_read_timeout(Some(HANG_GUARD)).unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"fresh");
    rig.kill_and_stop();
}

/// Whether the TCP socket bound to `local` is in CLOSE_WAIT (its peer closed).
fn in_close_wait(local: SocketAddr) -> bool {
    in_tcp_state(local, "08")
}

#[test]
fn a_greeting_on_the_probe_connection_reaches_the_first_client_even_after_the_server_closed() {
    let rig = Rig::start_probing(Limits::DEFAULT);
    rig.request();
    rig.reply(vec![rig.inside_connection()]);
    rig.wait_until_accepting(true);
    // A one-shot server: greets its one connection and closes it.
    let (mut probe, _) = rig.inside.accept().unwrap();
    probe.write_all(b"hello, one connection only").unwrap();
    drop(probe);
    let mut client = TcpStream::connect(rig.address).unwrap();
    client.set_read_timeout(Some(HANG_GUARD)).unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"hello, one connection only");
    rig.kill_and_stop();
}

#[test]
fn a_probe_that_is_not_connected_does_not_open_the_port() {
    let rig = Rig::start_probing(Limits::DEFAULT);
    rig.request();
    // A TCP socket, but connected to nothing: the relay must not take it for a listener.
    let unconnected =
        nix::sys::socket::socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
    rig.reply(vec![unconnected]);
    // The next probe comes: the first one failed.
    rig.request();
    assert!(!rig.accepting());
    assert_eq!(connect_error(rig.address), Some(ErrorKind::ConnectionRefused));
    rig.kill_and_stop();
}

#[test]
fn a_refused_client_resets_and_the_port_refuses_again_until_a_probe_connects() {
    let rig = Rig::start(Limits::DEFAULT);
    let mut client = TcpStream::connect(rig.address).unwrap();
    rig.request();
    rig.fail(libc::ECONNREFUSED);
    assert_reset(&mut client);
    rig.wait_until_accepting(false);
    assert_eq!(connect_error(rig.address), Some(ErrorKind::ConnectionRefused));
    // Probing again; a connected probe opens the port again.
    rig.request();
    rig.reply(vec![rig.inside_connection()]);
    rig.wait_until_accepting(true);
    rig.first_client_gets_the_probes_connection();
    let _client = TcpStream::connect(rig.address).unwrap();
    rig.request();
    rig.kill_and_stop();
}

#[test]
fn a_client_whose_inside_connect_is_refused_later_closes_the_port_too() {
    let rig = Rig::start(Limits::DEFAULT);
    let mut client = TcpStream::connect(rig.address).unwrap();
    rig.request();
    // A socket whose connect fails with ECONNREFUSED once it completes.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let SocketAddr::V4(closed) = closed else { unreachable!() };
    rig.reply(vec![super::tcp::connect_nonblocking(closed).unwrap()]);
    assert_reset(&mut client);
    rig.wait_until_accepting(false);
    assert_eq!(connect_error(rig.address), Some(ErrorKind::ConnectionRefused));
    rig.kill_and_stop();
}

#[test]
fn a_gone_connector_closes_the_port_for_good_and_keeps_it_reserved() {
    let mut rig = Rig::start(Limits::DEFAULT);
    let mut client = TcpStream::connect(rig.address).unwrap();
    rig.request();
    // The connector dies: its end of the socket closes.
    let (ours, _) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC).unwrap();
    drop(std::mem::replace(&mut rig.connector, ours));
    assert_reset(&mut client);
    rig.wait_until_accepting(false);
    assert_eq!(connect_error(rig.address), Some(ErrorKind::ConnectionRefused));
    assert!(!another_socket_can_take(rig.address));
    let address = rig.address;
    rig.kill_and_stop();
    assert!(another_socket_can_take(address), "the port stays taken after stop");
}

#[test]
fn an_answer_cut_by_the_container_exiting_is_a_reset_but_one_sent_whole_is_delivered() {
    let rig = Rig::start(Limits::DEFAULT);
    let (mut cut, mut whole) = (
        TcpStream::connect(rig.address).unwrap(),
        TcpStream::connect(rig.address).unwrap(),
    );
    let mut inside = Vec::new();
    for _ in 0..2 {
        rig.request();
        rig.reply(vec![rig.inside_connection()]);
        inside.push(rig.inside.accept().unwrap().0);
    }
    // Which inside connection is whose: the order of the requests is the order of accepts,
    // but not necessarily of the clients' connects; tell them apart by a byte.
    cut.write_all(b"c").unwrap();
    whole.write_all(b"w").unwrap();
    let mut tags = [0u8; 2];
    for (i, s) in inside.iter_mut().enumerate() {
        s.set_read_timeout(Some(HANG_GUARD)).unwrap();
        s.read_exact(&mut tags[i..i + 1]).unwrap();
    }
    let (mut for_cut, mut for_whole) = if tags[0] == b'c' {
        let mut it = inside.into_iter();
        (it.next().unwrap(), it.next().unwrap())
    } else {
        let mut it = inside.into_iter();
        let w = it.next().unwrap();
        (it.next().unwrap(), w)
    };
    for_whole.write_all(b"answer").unwrap();
    drop(for_whole); // sent whole, then EOF
    for_cut.write_all(b"part").unwrap(); // no EOF: the container "exits" mid-answer
    std::thread::sleep(Duration::from_millis(50));
    let connector = rig.kill_and_stop();
    drop(connector);
    whole.set_read_timeout(Some(HANG_GUARD)).unwrap();
    let mut got = Vec::new();
    whole.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"answer");
    cut.set_read_timeout(Some(HANG_GUARD)).unwrap();
    let mut got = Vec::new();
    let end = cut.read_to_end(&mut got);
    assert!(
        matches!(&end, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "a cut answer ended {end:?} after {got:?}"
    );
    drop(for_cut);
}
