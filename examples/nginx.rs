//! The Docker primer's last step, from Rust: the host's nginx in a container on the host root
//! (read-only), its config and page bind-mounted from a temp dir, port 80 published on
//! 127.0.0.1:8080, then an HTTP GET returns the page.
//!
//! `apt-get install nginx`, then `cargo run --example nginx` (as root). Set NSBOX_NGINX_PORT to
//! publish on another host port (0: any free one).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use nsbox::{Container, Mount, Port, Signal};

const NGINX_CONF: &str = "user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log stderr;
events { worker_connections 64; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    include /etc/nginx/conf.d/*.conf;
}
";

const SITE: &str = "server {
    listen 80;
    root /usr/share/nginx/html;
    index index.html;
}
";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (conf, conf_d, html) = (
        dir.path().join("nginx.conf"),
        dir.path().join("conf.d"),
        dir.path().join("html"),
    );
    std::fs::write(&conf, NGINX_CONF)?;
    std::fs::create_dir(&conf_d)?;
    std::fs::write(conf_d.join("default.conf"), SITE)?;
    std::fs::create_dir(&html)?;
    std::fs::write(html.join("index.html"), "<h1>MY Nginx!</h1>\n")?;
    let host_port = std::env::var("NSBOX_NGINX_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);

    let mut web = Container::builder()
        .publish(Port::tcp(host_port, 80))
        .mount(Mount::bind(&conf, "/etc/nginx/nginx.conf").read_only())
        .mount(Mount::bind(&conf_d, "/etc/nginx/conf.d").read_only())
        .mount(Mount::bind(&html, "/usr/share/nginx/html").read_only())
        .mount(Mount::tmpfs("/var/lib/nginx"))
        .mount(Mount::tmpfs("/var/log/nginx"))
        .hostname("mynginx")
        .command("/usr/sbin/nginx")
        .args(["-g", "daemon off;"])
        .spawn()?;
    let address = web.ports()[0].host;
    println!(
        "nginx is container {} (pid {}), published on {address}",
        web.id(),
        web.pid()
    );

    let page = get(address, "/", Duration::from_secs(20))?;
    println!("GET http://{address}/ ->\n{page}");
    let ok = page.starts_with("HTTP/1.1 200") && page.contains("MY Nginx!");

    web.kill(Signal::SIGQUIT)?; // nginx's graceful stop, forwarded by the container's init
    let status = web.wait_timeout(Duration::from_secs(10))?;
    if status.is_none() {
        web.kill(Signal::SIGKILL)?;
    }
    println!("stopped: {}", web.wait()?);
    let freed = std::net::TcpListener::bind(address).is_ok();
    println!("port {address} free again: {freed}");
    if !(ok && freed) {
        return Err("nginx did not serve the page, or the port stayed taken".into());
    }
    Ok(())
}

/// GETs `path`, retrying while nginx starts (bounded by `patience`).
fn get(address: SocketAddr, path: &str, patience: Duration) -> std::io::Result<String> {
    let deadline = Instant::now() + patience;
    loop {
        let attempt = (|| {
            let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            write!(
                stream,
                "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
            )?;
            let mut response = String::new();
            stream.read_to_string(&mut response)?;
            if response.is_empty() {
                return Err(std::io::Error::other("empty response"));
            }
            Ok(response)
        })();
        match attempt {
            Ok(response) => return Ok(response),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
