//! A test fixture the testcontainers way, from Rust: start a server container with logs,
//! wait until it says it is ready and its port accepts connections, talk to it, then read
//! what it logged. Finishes by itself.
//!
//! `cargo run --example fixture` (as root; uses the host's static /bin/busybox, Debian's
//! busybox-static).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use nsbox::logs::LogConfig;
use nsbox::{Container, Mount, Port, Ready};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let logs = tempfile::tempdir()?;
    let mut server = Container::builder()
        .logs(LogConfig::new(logs.path()).max_size(1 << 20).max_files(2))
        .publish(Port::tcp(0, 80))
        .mount(Mount::tmpfs("/www"))
        .command("/bin/sh")
        .args([
            "-c",
            "echo '<h1>fixture</h1>' > /www/index.html; echo starting; sleep 0.5; \
             echo ready >&2; exec /bin/busybox httpd -f -v -p 80 -h /www",
        ])
        .spawn()?;

    let timeout = Duration::from_secs(30);
    server.wait_for(Ready::output_contains("ready").timeout(timeout))?;
    server.wait_for(Ready::port(80).timeout(timeout))?;

    let addr = server.ports()[0].host;
    let mut client = TcpStream::connect(addr)?;
    client.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")?;
    let mut reply = String::new();
    client.read_to_string(&mut reply)?;
    let body = reply.split("\r\n\r\n").nth(1).unwrap_or_default();
    println!("GET http://{addr}/ -> {}", body.trim());
    assert_eq!(body, "<h1>fixture</h1>\n");

    let status = server.stop(Duration::from_secs(5))?;
    println!("server stopped ({status}); its logs:");
    for entry in server.logs()?.entries()? {
        let entry = entry?;
        println!("  {} {}", entry.stream, String::from_utf8_lossy(entry.line()));
    }
    Ok(())
}
