//! Networking against the real kernel: a private network namespace, published TCP and UDP
//! ports (port 0, a taken port, 200 concurrent 1 MiB round trips with half-close, a payload
//! that stalls its connector), joining another container's namespace, the host network, and
//! the seed's nginx.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{PYTHON, root, root_and_python, stdout_of};
use nsbox::{Container, ContainerBuilder, Error, Mount, Network, Port, Protocol, Signal, Stdio};

/// Reads everything until EOF, then sends back its length and a digest and the data itself,
/// so the client checks both directions and the half-close in between.
const ECHO_SERVER: &str = r#"
import hashlib, socket, socketserver, sys
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        chunks = []
        while True:
            b = self.request.recv(65536)
            if not b:
                break
            chunks.append(b)
        data = b"".join(chunks)
        self.request.sendall(hashlib.sha256(data).hexdigest().encode() + b"\n" + data)
class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    request_queue_size = 512
    daemon_threads = True
s = Server(("127.0.0.1", int(sys.argv[1])), Echo)
print("ready", flush=True)
s.serve_forever()
"#;

const UDP_ECHO: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
while True:
    data, peer = s.recvfrom(65536)
    s.sendto(b"echo:" + data, peer)
"#;

/// A container running `script` (python) with `port` published; returns after it printed
/// "ready" and, for TCP, once the host port listens (the forwarder saw the server listen: see
/// docs/ports.md).
fn serve(script: &str, port: Port, configure: impl FnOnce(&mut ContainerBuilder)) -> Container {
    let mut builder = Container::builder();
    builder
        .publish(port)
        .command(PYTHON)
        .args(["-c", script, &port.container_port().to_string()])
        .stdout(Stdio::piped());
    configure(&mut builder);
    let mut c = builder.spawn().expect("spawn the server");
    let mut line = String::new();
    BufReader::new(c.take_stdout().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let published = c.ports()[0];
    common::wait_until("the published port to listen", Duration::from_secs(10), || {
        c.port_accepting(&published)
    });
    c
}

fn sha256(data: &[u8]) -> String {
    let mut child = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_owned()
}

/// Sends `data`, half-closes, reads the digest line and the echo.
fn round_trip(address: SocketAddr, data: &[u8]) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    stream.write_all(data).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let split = reply.iter().position(|b| *b == b'\n').expect("a digest line");
    (
        String::from_utf8_lossy(&reply[..split]).into_owned(),
        reply[split + 1..].to_vec(),
    )
}

/// Whether a socket of this process listens on TCP `port` (from /proc/net/tcp and our fds; a
/// bind() check would race with other tests' ephemeral ports).
fn listening_here(port: u16) -> bool {
    let ours: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            l.to_string_lossy()
                .strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_owned)
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap()
        + &std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    table.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let local_port = f
            .get(1)
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| u16::from_str_radix(p, 16).ok());
        f.get(3) == Some(&"0A")
            && local_port == Some(port)
            && f.get(9).is_some_and(|inode| ours.iter().any(|o| o == inode))
    })
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn private_network_has_only_loopback_up_and_cannot_reach_host_loopback() {
    if !root_and_python() {
        return;
    }
    let host = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = host.local_addr().unwrap().port();
    let script = format!(
        "import socket
ifs = [l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]]
print('interfaces', ifs)
print('lo-flags', open('/sys/class/net/lo/flags').read().strip())
try:
    socket.create_connection(('127.0.0.1', {port}), timeout=2)
    print('host-loopback reachable')
except OSError as e:
    print('host-loopback', e.errno)"
    );
    let out = Container::builder()
        .command(PYTHON)
        .args(["-c", &script])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(text.contains("interfaces ['lo']"), "{text}");
    let flags = text.lines().find_map(|l| l.strip_prefix("lo-flags ")).unwrap();
    assert!(
        u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap() & 1 == 1,
        "lo is down: {text}"
    );
    assert!(
        text.contains(&format!("host-loopback {}", libc::ECONNREFUSED)),
        "{text}"
    );
}

#[test]
fn published_port_zero_is_picked_and_reported() {
    if !root_and_python() {
        return;
    }
    let mut c = serve(ECHO_SERVER, Port::tcp(0, 7000), |_| {});
    let ports = c.ports();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].protocol, Protocol::Tcp);
    assert_eq!(ports[0].container_port, 7000);
    assert_ne!(ports[0].host.port(), 0);
    assert_eq!(c.ip(), Some("127.0.0.1".parse().unwrap()));
    let (digest, echo) = round_trip(ports[0].host, b"hello");
    assert_eq!(echo, b"hello");
    assert_eq!(digest, sha256(b"hello"));
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();
}

#[test]
fn two_hundred_concurrent_connections_of_one_mib_arrive_intact() {
    if !root_and_python() {
        return;
    }
    let mut c = serve(ECHO_SERVER, Port::tcp(0, 7001), |_| {});
    let address = c.ports()[0].host;
    let clients: Vec<_> = (0..200u32)
        .map(|i| {
            std::thread::spawn(move || {
                // Distinct data per connection, so a mix-up between connections shows.
                let data: Vec<u8> = (0..(1u32 << 20))
                    .map(|n| (n.wrapping_mul(31).wrapping_add(i) % 251) as u8)
                    .collect();
                let (digest, echo) = round_trip(address, &data);
                (data == echo, digest.len() == 64, i)
            })
        })
        .collect();
    for client in clients {
        let (intact, has_digest, i) = client.join().unwrap();
        assert!(intact && has_digest, "connection {i} was corrupted");
    }
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();
}

#[test]
fn digest_checks_the_bytes_both_ways() {
    if !root_and_python() {
        return;
    }
    let mut c = serve(ECHO_SERVER, Port::tcp(0, 7002), |_| {});
    let data: Vec<u8> = (0..300_000u32).map(|n| (n % 256) as u8).collect();
    let (digest, echo) = round_trip(c.ports()[0].host, &data);
    assert_eq!(digest, sha256(&data), "the server saw other bytes than were sent");
    assert_eq!(echo, data);
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();
}

#[test]
fn a_taken_host_port_is_a_clear_error() {
    if !root() {
        return;
    }
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let err = Container::builder()
        .publish(Port::tcp(port, 80))
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    assert_eq!(err.errno(), Some(nsbox::Errno::EADDRINUSE), "{err}");
}

#[test]
fn the_port_threads_and_fds_are_released_when_the_container_ends() {
    if !root_and_python() {
        return;
    }
    // Alone in a process: it counts the process's threads, and the other tests' forwarders
    // and clients are threads of this one.
    if !common::in_own_process(
        "the_port_threads_and_fds_are_released_when_the_container_ends",
        "NSBOX_TEST_PORT_THREADS_INNER",
    ) {
        return;
    }
    let before = threads();
    let mut c = serve(ECHO_SERVER, Port::tcp(0, 7003), |_| {});
    let address = c.ports()[0].host;
    assert!(
        listening_here(address.port()),
        "the published port is not held by this process"
    );
    round_trip(address, b"x");
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();
    assert!(c.ports().is_empty());
    assert!(
        !listening_here(address.port()),
        "the port stays taken after the container ended"
    );
    // A second container can publish the same port now.
    let mut again = serve(ECHO_SERVER, Port::tcp(address.port(), 7003), |_| {});
    assert_eq!(again.ports()[0].host, address);
    again.kill(Signal::SIGKILL).unwrap();
    again.wait().unwrap();
    common::wait_until("the forwarder threads to end", Duration::from_secs(10), || {
        threads() <= before
    });
}

#[test]
fn udp_datagrams_are_forwarded_both_ways() {
    if !root_and_python() {
        return;
    }
    let mut c = serve(UDP_ECHO, Port::udp(0, 7004), |_| {});
    let address = c.ports()[0].host;
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut reply = [0u8; 64];
    let deadline = Instant::now() + Duration::from_secs(20);
    let n = loop {
        socket.send_to(b"ping", address).unwrap();
        match socket.recv_from(&mut reply) {
            Ok((n, from)) => {
                assert_eq!(from, address);
                break n;
            }
            Err(_) if Instant::now() < deadline => continue,
            Err(e) => panic!("no UDP reply: {e}"),
        }
    };
    assert_eq!(&reply[..n], b"echo:ping");
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();
}

#[test]
fn a_container_can_join_another_containers_network() {
    if !root_and_python() {
        return;
    }
    let mut server = serve(ECHO_SERVER, Port::tcp(0, 7005), |_| {});
    let netns = format!("/proc/{}/ns/net", server.pid());
    let script = "import socket
s = socket.create_connection(('127.0.0.1', 7005), timeout=10)
s.sendall(b'joined'); s.shutdown(socket.SHUT_WR)
print(s.makefile('rb').read().split(b'\\n', 1)[1].decode())";
    let out = Container::builder()
        .network(Network::join_path(&netns))
        .command(PYTHON)
        .args(["-c", script])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out).trim(), "joined", "{out:?}");
    // The spawning thread went back to its own namespace.
    assert_eq!(
        std::fs::read_link("/proc/thread-self/ns/net").unwrap(),
        std::fs::read_link("/proc/1/ns/net").unwrap_or_else(|_| std::fs::read_link("/proc/self/ns/net").unwrap())
    );
    server.kill(Signal::SIGKILL).unwrap();
    server.wait().unwrap();
}

#[test]
fn host_network_sees_the_host_interfaces_and_cannot_publish() {
    if !root() {
        return;
    }
    let out = Container::builder()
        .network(Network::Host)
        .command("/bin/sh")
        .args(["-c", "readlink /proc/self/ns/net"])
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&out).trim(),
        std::fs::read_link("/proc/self/ns/net").unwrap().to_string_lossy()
    );
    let err = Container::builder()
        .network(Network::Host)
        .publish(Port::tcp(0, 80))
        .command("/bin/true")
        .build();
    assert!(matches!(err, Err(Error::Config(_))), "{err:?}");
}

#[test]
fn the_seeds_nginx_serves_its_bind_mounted_page() {
    if !root()
        || !common::require(
            "nginx (apt-get install nginx)",
            std::path::Path::new("/usr/sbin/nginx").exists(),
        )
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (conf, conf_d, html) = (
        dir.path().join("nginx.conf"),
        dir.path().join("conf.d"),
        dir.path().join("html"),
    );
    std::fs::write(
        &conf,
        "user www-data; worker_processes 1; pid /run/nginx.pid; error_log stderr;
events { worker_connections 64; }
http { include /etc/nginx/mime.types; access_log off; include /etc/nginx/conf.d/*.conf; }\n",
    )
    .unwrap();
    std::fs::create_dir(&conf_d).unwrap();
    std::fs::write(
        conf_d.join("default.conf"),
        "server { listen 80; root /usr/share/nginx/html; }\n",
    )
    .unwrap();
    std::fs::create_dir(&html).unwrap();
    std::fs::write(html.join("index.html"), "<h1>MY Nginx!</h1>\n").unwrap();
    let mut web = Container::builder()
        .publish(Port::tcp(0, 80))
        .mount(Mount::bind(&conf, "/etc/nginx/nginx.conf").read_only())
        .mount(Mount::bind(&conf_d, "/etc/nginx/conf.d").read_only())
        .mount(Mount::bind(&html, "/usr/share/nginx/html").read_only())
        .mount(Mount::tmpfs("/var/lib/nginx"))
        .mount(Mount::tmpfs("/var/log/nginx"))
        .command("/usr/sbin/nginx")
        .args(["-g", "daemon off;"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let address = web.ports()[0].host;
    let mut page = String::new();
    common::wait_until("nginx to answer", Duration::from_secs(30), || {
        let Ok(mut s) = TcpStream::connect(address) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        page.clear();
        s.read_to_string(&mut page).is_ok() && !page.is_empty()
    });
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("MY Nginx!"), "{page}");
    web.kill(Signal::SIGQUIT).unwrap();
    if web.wait_timeout(Duration::from_secs(20)).unwrap().is_none() {
        web.kill(Signal::SIGKILL).unwrap();
    }
    web.wait().unwrap();
    assert!(
        !listening_here(address.port()),
        "stopping the container did not free {address}"
    );
}

/// A payload that listens on its port until the forwarder's probe came (the host port then
/// listens), then stops its container's port connector (a hostile payload can: it is a process
/// of its own, in the container), so that requests for its published ports are never answered.
const STOP_THE_CONNECTOR: &str = r#"
import os, signal, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(256)
s.accept()[0].close()
print("accepted", flush=True)
sys.stdin.readline()
for p in filter(str.isdigit, os.listdir("/proc")):
    try:
        if open(f"/proc/{p}/cmdline", "rb").read().startswith(b"nsbox-connect"):
            os.kill(int(p), signal.SIGSTOP); print("stopped")
    except OSError:
        pass
print("ready", flush=True)
time.sleep(1000)
"#;

fn open_fds() -> usize {
    // Minus the fd read_dir itself holds.
    std::fs::read_dir("/proc/self/fd").unwrap().count() - 1
}

#[test]
fn a_hundred_clients_against_a_stalled_connector_are_failed_and_leave_no_fd_after_kill_and_wait() {
    if !root_and_python() {
        return;
    }
    // Counted in a process of its own: the other tests of this binary open fds in parallel.
    if !common::in_own_process(
        "a_hundred_clients_against_a_stalled_connector_are_failed_and_leave_no_fd_after_kill_and_wait",
        "NSBOX_TEST_STALLED_CONNECTOR_INNER",
    ) {
        return;
    }
    const HANG_GUARD: Duration = Duration::from_secs(30);
    let baseline = open_fds();
    let mut c = Container::builder()
        .command(PYTHON)
        .args(["-c", STOP_THE_CONNECTOR, "7013"])
        .publish(Port::tcp(0, 7013))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    let mut stdout = BufReader::new(c.take_stdout().unwrap());
    stdout.read_line(&mut out).unwrap();
    assert_eq!(out, "accepted\n", "the forwarder's probe never reached the server");
    // The probe's reply came back (the port listens) before the connector is stopped: stopped
    // earlier, it could hold that reply and the port would never listen.
    let published = c.ports()[0];
    let address = published.host;
    common::wait_until("the published port to listen", HANG_GUARD, || {
        c.port_accepting(&published)
    });
    let mut stdin = c.take_stdin().unwrap();
    stdin.write_all(b"go\n").unwrap();
    out.clear();
    while !out.ends_with("ready\n") && stdout.read_line(&mut out).unwrap() > 0 {}
    drop((stdout, stdin));
    assert_eq!(out, "stopped\nready\n", "the payload did not stop the connector");
    let mut clients: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect_timeout(&address, HANG_GUARD).unwrap())
        .collect();
    // The first request is never answered: its client is reset while the container still runs.
    clients[0].set_read_timeout(Some(HANG_GUARD)).unwrap();
    let got = clients[0].read(&mut [0u8; 1]);
    assert!(
        matches!(&got, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "the client of an unanswered request was not reset: {got:?}"
    );
    c.kill(Signal::SIGKILL).unwrap();
    let (done, waited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let status = c.wait();
        let _ = done.send((status.is_ok(), c));
    });
    let (ok, c) = waited
        .recv_timeout(HANG_GUARD)
        .expect("wait() did not return after SIGKILL");
    assert!(ok);
    drop(c);
    let clients_open = clients.len();
    assert_eq!(
        open_fds() - clients_open,
        baseline,
        "the forwarder left fds open after kill and wait"
    );
    drop(clients);
    assert_eq!(open_fds(), baseline);
}
