//! Throughput of a published port: the same server, inside a container's network namespace,
//! reached three ways in one run, interleaved round by round:
//!
//! - `direct`: a client in the container's network namespace (a thread that joined it) on
//!   127.0.0.1: what the forwarder is measured against;
//! - `nsbox`: a client on the host through the published port (nsbox's forwarder);
//! - `socat`: a client on the host through socat, the usual tool for the job: `socat
//!   TCP-LISTEN:port,fork UNIX-CONNECT:sock` on the host and `nsenter -n -t PID socat
//!   UNIX-LISTEN:sock,fork TCP:127.0.0.1:port` in the namespace (a forwarder must cross the
//!   namespace somehow; a unix socket is the cheapest way socat can), both with `-b 65536`, the
//!   forwarder's buffer size.
//!
//! Workloads: `down` 1 GiB from the server through one connection, `up` 1 GiB to it, `rate 1`
//! sequential short connections (connect, one request, a 64-byte answer, the server closes) and
//! `rate 8` the same from 8 threads. Prints a markdown table of medians with ratios to `direct`.
//!
//! Run by benches/forward-throughput.sh (root; socat installed). Uses only API that main has,
//! so that the script can build it against main too.
//! Env: NSBOX_FORWARD_ROUNDS (3), NSBOX_FORWARD_GIB (1), NSBOX_FORWARD_CONNECTIONS (1000 per
//! rate round), NSBOX_FORWARD_LABEL (a name for the nsbox row), NSBOX_FORWARD_SOCAT (0 skips).

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use nsbox::{Container, Port, Signal, Stdio};

const PORT: u16 = 7200;
const CHUNK: usize = 256 * 1024;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        return serve(args[2].parse().expect("a port"));
    }
    let rounds = env("NSBOX_FORWARD_ROUNDS", 3);
    let bytes = env("NSBOX_FORWARD_GIB", 1) << 30;
    let connections = env("NSBOX_FORWARD_CONNECTIONS", 1000);
    let label = std::env::var("NSBOX_FORWARD_LABEL").unwrap_or_else(|_| "nsbox".into());

    let mut server = Container::builder()
        .publish(Port::tcp(0, PORT))
        .command(std::env::current_exe().expect("current_exe"))
        .args(["serve", &PORT.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the server container");
    let mut line = String::new();
    BufReader::new(server.take_stdout().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    let published = server.ports()[0].host;
    wait_for(published);
    let netns = PathBuf::from(format!("/proc/{}/ns/net", server.pid()));
    let socat = (env("NSBOX_FORWARD_SOCAT", 1) == 1).then(|| Socat::start(server.pid()));

    let mut routes = vec![
        ("direct".to_string(), Route::Inside(netns)),
        (label, Route::Host(published)),
    ];
    if let Some(socat) = &socat {
        wait_for(socat.address);
        routes.push(("socat".into(), Route::Host(socat.address)));
    }
    // results[route][workload] = one value per round
    let workloads = ["down GiB/s", "up GiB/s", "rate 1 conn/s", "rate 8 conn/s"];
    let mut results = vec![vec![Vec::new(); workloads.len()]; routes.len()];
    for round in 0..rounds {
        eprintln!("round {}/{rounds}", round + 1);
        for (r, (_, route)) in routes.iter().enumerate() {
            results[r][0].push(bytes as f64 / (1u64 << 30) as f64 / route.run(1, |a| down(a, bytes)));
            results[r][1].push(bytes as f64 / (1u64 << 30) as f64 / route.run(1, |a| up(a, bytes)));
            results[r][2].push(connections as f64 / route.run(1, |a| rate(a, connections)));
            let each = connections / 8;
            results[r][3].push((each * 8) as f64 / route.run(8, |a| rate(a, each)));
        }
    }
    let medians: Vec<Vec<f64>> = results.iter().map(|r| r.iter().map(|v| median(v)).collect()).collect();
    println!("| route | {} |", workloads.join(" | "));
    println!("|---|{}", "---:|".repeat(workloads.len()));
    for (r, (name, _)) in routes.iter().enumerate() {
        let cells: Vec<String> = (0..workloads.len())
            .map(|w| {
                let value = medians[r][w];
                let value = if w < 2 {
                    format!("{value:.2}")
                } else {
                    format!("{value:.0}")
                };
                if r == 0 {
                    value
                } else {
                    format!("{value} ({:.2}x)", medians[r][w] / medians[0][w])
                }
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
    drop(socat);
    server.kill(Signal::SIGKILL).unwrap();
    server.wait().unwrap();
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Connects until the port is served end to end (a published port refuses until the server
/// listens; a forwarder may accept and reset before).
fn wait_for(address: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(mut s) = TcpStream::connect(address) {
            let mut answer = Vec::new();
            if s.write_all(b"R").is_ok() && s.read_to_end(&mut answer).is_ok() && answer.len() == 64 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{address} never answered");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How a client reaches the server.
enum Route {
    /// From a thread in this network namespace, to 127.0.0.1:PORT.
    Inside(PathBuf),
    /// From the host, to this address.
    Host(SocketAddr),
}

impl Route {
    /// Runs `work` on `threads` threads (each in the route's namespace) against the route's
    /// address; the seconds from the first start to the last end.
    fn run(&self, threads: usize, work: impl Fn(SocketAddr) + Sync) -> f64 {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let address = match self {
                        Route::Inside(netns) => {
                            let ns = std::fs::File::open(netns).expect("open the netns");
                            // SAFETY: setns on a live fd; only this thread changes namespace.
                            let ret = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                            assert_eq!(ret, 0, "setns: {}", std::io::Error::last_os_error());
                            SocketAddr::from((Ipv4Addr::LOCALHOST, PORT))
                        }
                        Route::Host(address) => *address,
                    };
                    work(address);
                });
            }
        });
        start.elapsed().as_secs_f64()
    }
}

fn down(address: SocketAddr, bytes: u64) {
    let mut s = TcpStream::connect(address).unwrap();
    s.write_all(b"D").unwrap();
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0u64;
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n as u64,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => panic!("down: {e}"),
        }
    }
    assert_eq!(got, bytes, "down: short");
}

fn up(address: SocketAddr, bytes: u64) {
    let mut s = TcpStream::connect(address).unwrap();
    s.write_all(b"U").unwrap();
    let buf = vec![7u8; CHUNK];
    let mut sent = 0u64;
    while sent < bytes {
        let n = (bytes - sent).min(CHUNK as u64) as usize;
        s.write_all(&buf[..n]).unwrap();
        sent += n as u64;
    }
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut count = [0u8; 8];
    s.read_exact(&mut count).unwrap();
    assert_eq!(u64::from_le_bytes(count), bytes, "up: short");
}

fn rate(address: SocketAddr, connections: u64) {
    let mut answer = Vec::with_capacity(64);
    for _ in 0..connections {
        let mut s = TcpStream::connect(address).unwrap();
        s.write_all(b"R").unwrap();
        answer.clear();
        s.read_to_end(&mut answer).unwrap();
        assert_eq!(answer.len(), 64, "rate: short answer");
    }
}

/// The server, inside the container: `D` sends 1 GiB (NSBOX_FORWARD_GIB) and closes, `U`
/// counts what comes until EOF and sends the count, `R` sends 64 bytes and closes.
fn serve(port: u16) {
    let bytes = env("NSBOX_FORWARD_GIB", 1) << 30;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).expect("bind");
    println!("ready");
    std::io::stdout().flush().unwrap();
    for client in listener.incoming() {
        let Ok(mut client) = client else { continue };
        std::thread::spawn(move || {
            let mut command = [0u8; 1];
            if client.read_exact(&mut command).is_err() {
                return; // a probe or a readiness check
            }
            let _ = match command[0] {
                b'D' => {
                    let buf = vec![7u8; CHUNK];
                    let mut sent = 0u64;
                    while sent < bytes {
                        let n = (bytes - sent).min(CHUNK as u64) as usize;
                        if client.write_all(&buf[..n]).is_err() {
                            return;
                        }
                        sent += n as u64;
                    }
                    Ok(())
                }
                b'U' => {
                    let mut buf = vec![0u8; CHUNK];
                    let mut got = 0u64;
                    while let Ok(n @ 1..) = client.read(&mut buf) {
                        got += n as u64;
                    }
                    client.write_all(&got.to_le_bytes())
                }
                _ => client.write_all(&[b'a'; 64]),
            };
        });
    }
}

/// socat on the host relaying to socat in the container's network namespace over a unix
/// socket.
struct Socat {
    address: SocketAddr,
    outside: Child,
    inside: Child,
    _dir: tempfile::TempDir,
}

impl Socat {
    fn start(pid: u32) -> Socat {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("bridge.sock");
        let inside = Command::new("nsenter")
            .args(["-n", "-t", &pid.to_string(), "socat", "-b", "65536"])
            .arg(format!("UNIX-LISTEN:{},fork,backlog=1024", sock.display()))
            .arg(format!("TCP:127.0.0.1:{PORT}"))
            .spawn()
            .expect("run nsenter socat (apt-get install socat)");
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let outside = Command::new("socat")
            .args(["-b", "65536"])
            .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr,backlog=1024"))
            .arg(format!("UNIX-CONNECT:{}", sock.display()))
            .spawn()
            .expect("run socat (apt-get install socat)");
        Socat {
            address: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            outside,
            inside,
            _dir: dir,
        }
    }
}

impl Drop for Socat {
    fn drop(&mut self) {
        for child in [&mut self.outside, &mut self.inside] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
