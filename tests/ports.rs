//! Published ports tell the truth (issue 13, docs/ports.md): a host connect is refused until
//! something listens inside, a client never gets an empty clean close the server did not make,
//! the probe does not take a one-connection server's connection, a server that stops listening
//! makes the port refuse again, and nothing leaks meanwhile.

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{PYTHON, root_and_python};
use nsbox::{ChildStdin, ChildStdout, Container, Port, Signal, Stdio};

/// A bound for anything to happen, not a latency check.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// Sleeps `argv[2]` seconds, then answers each connection's request line with
/// `answer <line>` and closes it; a connection that sends nothing (the forwarder's probe) is
/// closed.
const LATE_SERVER: &str = r#"
import socket, sys, time
time.sleep(float(sys.argv[2]))
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64)
while True:
    c, _ = s.accept()
    line = c.makefile("rb").readline()
    if line:
        c.sendall(b"answer " + line)
    c.close()
"#;

/// Listens or closes its listener on the commands `listen` / `close` read from stdin, and
/// answers like [`LATE_SERVER`] meanwhile; acknowledges each command on stdout.
const SWITCHED_SERVER: &str = r#"
import select, socket, sys
port, listener = int(sys.argv[1]), None
while True:
    ready = select.select([sys.stdin] + ([listener] if listener else []), [], [])[0]
    if sys.stdin in ready:
        command = sys.stdin.readline().strip()
        if command == "listen":
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", port)); listener.listen(64)
        elif command == "close":
            listener.close(); listener = None
        else:
            break
        print(command, flush=True)
    elif listener in ready:
        c, _ = listener.accept()
        line = c.makefile("rb").readline()
        if line:
            c.sendall(b"answer " + line)
        c.close()
"#;

/// What one client saw.
#[derive(Debug, PartialEq)]
enum Seen {
    Refused,
    Reset,
    /// End of file without an error and without a byte: what must never happen.
    EmptyClose,
    Answer(String),
}

/// Connects, sends `request` and a newline, reads until the end.
fn attempt(address: SocketAddr, request: &str) -> Seen {
    let mut stream = match TcpStream::connect_timeout(&address, HANG_GUARD) {
        Ok(stream) => stream,
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Seen::Refused,
        // The handshake done against a listener that stopped listening before it accepted:
        // its queue is reset.
        Err(e) if e.kind() == ErrorKind::ConnectionReset => return Seen::Reset,
        Err(e) => panic!("connect to {address}: {e}"),
    };
    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
    // The request may fail to go out once the forwarder reset the connection.
    let _ = stream.write_all(format!("{request}\n").as_bytes());
    let mut reply = Vec::new();
    match stream.read_to_end(&mut reply) {
        Ok(_) if reply.is_empty() => Seen::EmptyClose,
        Ok(_) => Seen::Answer(String::from_utf8_lossy(&reply).into_owned()),
        Err(e) if e.kind() == ErrorKind::ConnectionReset || e.kind() == ErrorKind::BrokenPipe => Seen::Reset,
        Err(e) => panic!("read from {address}: {e} after {reply:?}"),
    }
}

/// Tries until the port answers; every earlier attempt must be refused or reset. Returns how
/// many were refused.
fn until_answered(address: SocketAddr, request: &str) -> usize {
    let deadline = Instant::now() + HANG_GUARD;
    let mut refused = 0;
    loop {
        match attempt(address, request) {
            Seen::Answer(answer) => {
                assert_eq!(answer, format!("answer {request}\n"), "a partial answer");
                return refused;
            }
            Seen::Refused => refused += 1,
            Seen::Reset => {}
            Seen::EmptyClose => panic!("an empty clean close from {address}"),
        }
        assert!(Instant::now() < deadline, "{address} never answered");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn late_server(delay: &str) -> Container {
    Container::builder()
        .publish(Port::tcp(0, 7100))
        .command(PYTHON)
        .args(["-c", LATE_SERVER, "7100", delay])
        .spawn()
        .expect("spawn the server")
}

fn kill(mut c: Container) {
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();
}

#[test]
fn before_the_server_listens_connects_are_refused_and_the_first_accepted_gets_its_full_answer() {
    if !root_and_python() {
        return;
    }
    // 20 runs at once: each server sleeps 1 s before it listens.
    let runs: Vec<_> = (0..20)
        .map(|run| {
            std::thread::spawn(move || {
                let c = late_server("1");
                let address = c.ports()[0].host; // known right after spawn: bound before the clone
                let refused = until_answered(address, &format!("run {run}"));
                kill(c);
                refused
            })
        })
        .collect();
    for (run, handle) in runs.into_iter().enumerate() {
        let refused = handle.join().unwrap_or_else(|_| panic!("run {run} failed"));
        assert!(refused > 0, "run {run}: the port accepted before the server listened");
    }
}

#[test]
fn the_port_accepting_flag_follows_the_server() {
    if !root_and_python() {
        return;
    }
    let (c, mut switch) = switched_server();
    let published = c.ports()[0];
    assert!(!c.port_accepting(&published), "accepting before the server listened");
    assert_eq!(attempt(published.host, "early"), Seen::Refused);
    switch.command("listen");
    common::wait_until("the port to accept", HANG_GUARD, || c.port_accepting(&published));
    // Once the flag says so, the very next connect is served end to end.
    assert_eq!(attempt(published.host, "now"), Seen::Answer("answer now\n".into()));
    drop(switch);
    kill(c);
}

#[test]
fn a_server_that_accepts_one_connection_serves_the_first_client_not_the_probe() {
    if !root_and_python() {
        return;
    }
    let script = "import socket, time
s = socket.socket(); s.bind(('127.0.0.1', 7102)); s.listen()
c, _ = s.accept(); c.sendall(b'only one'); c.close()
time.sleep(1000)";
    let c = Container::builder()
        .publish(Port::tcp(0, 7102))
        .command(PYTHON)
        .args(["-c", script])
        .spawn()
        .expect("spawn the server");
    let published = c.ports()[0];
    common::wait_until("the port to accept", HANG_GUARD, || c.port_accepting(&published));
    let mut stream = TcpStream::connect(published.host).unwrap();
    stream.set_read_timeout(Some(HANG_GUARD)).unwrap();
    let mut got = String::new();
    stream.read_to_string(&mut got).unwrap();
    assert_eq!(got, "only one", "the probe took the server's one connection");
    kill(c);
}

/// The switched server's stdin and stdout.
struct Switch {
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

/// A server that listens on 7101 when told to (see [`SWITCHED_SERVER`]), and its switch.
fn switched_server() -> (Container, Switch) {
    let mut c = Container::builder()
        .publish(Port::tcp(0, 7101))
        .command(PYTHON)
        .args(["-c", SWITCHED_SERVER, "7101"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the server");
    let switch = Switch {
        input: c.take_stdin().unwrap(),
        output: BufReader::new(c.take_stdout().unwrap()),
    };
    (c, switch)
}

impl Switch {
    fn command(&mut self, command: &str) {
        writeln!(self.input, "{command}").unwrap();
        let mut ack = String::new();
        self.output.read_line(&mut ack).unwrap();
        assert_eq!(ack.trim(), command, "the server did not acknowledge");
    }
}

#[test]
fn a_server_that_stops_listening_is_refused_again_and_accepted_again_when_it_listens() {
    if !root_and_python() {
        return;
    }
    let (c, mut switch) = switched_server();
    let published = c.ports()[0];
    let address = published.host;
    for round in 0..3 {
        assert_eq!(attempt(address, "before"), Seen::Refused, "round {round}");
        switch.command("listen");
        until_answered(address, &format!("round {round}"));
        assert!(c.port_accepting(&published));
        switch.command("close");
        // The first connect after the close may be accepted (the forwarder learns of the close
        // from it) and is then reset; after that, refused.
        let deadline = Instant::now() + HANG_GUARD;
        loop {
            match attempt(address, "after") {
                Seen::Refused => break,
                Seen::Reset => {}
                other => panic!("round {round}: a closed server gave {other:?}"),
            }
            assert!(Instant::now() < deadline, "round {round}: never refused again");
        }
        assert!(!c.port_accepting(&published));
    }
    drop(switch);
    kill(c);
}

fn open_fds() -> usize {
    // Minus the fd read_dir itself holds.
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn probing_and_refused_clients_leave_no_fd_or_thread_behind() {
    if !root_and_python() {
        return;
    }
    // Counted in a process of its own: the other tests of this binary open fds in parallel.
    if !common::in_own_process(
        "probing_and_refused_clients_leave_no_fd_or_thread_behind",
        "NSBOX_TEST_PORTS_LEAK_INNER",
    ) {
        return;
    }
    let (fds, tasks) = (open_fds(), threads());
    for _ in 0..3 {
        // Probed for a while (nothing listens for 300 ms), refused clients meanwhile, then served.
        let c = late_server("0.3");
        let address = c.ports()[0].host;
        assert!(until_answered(address, "leak") > 0);
        kill(c);
        // A server that never listens: probed until it is killed.
        let c = late_server("1000");
        let address = c.ports()[0].host;
        for _ in 0..20 {
            assert_eq!(attempt(address, "never"), Seen::Refused);
        }
        kill(c);
    }
    common::wait_until("the forwarder threads to end", HANG_GUARD, || threads() <= tasks);
    assert_eq!(open_fds(), fds, "fds left open after kill and wait");
}
