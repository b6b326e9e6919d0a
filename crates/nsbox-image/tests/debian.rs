//! A real distribution as an image (issue 14's proofs): Debian bookworm from debootstrap,
//! two layers with a whiteout, cached under target/ (see tests/common/debian.rs).
//!
//! - the OCI layout, the classic `docker save` archive and the plain rootfs tar each import
//!   and run `cat /etc/os-release`, see layer 2's whiteout and file, and `/etc/shadow` 0:42;
//! - the seed's nginx: a container of the image installs nginx with apt-get (host network for
//!   the download, the host's resolv.conf bound read-only, its changes in an upper directory),
//!   the upper is committed as a layer, and nginx runs from the new image with a published
//!   port and the primer's conf.d and html bind-mounted: the page says "MY Nginx!".

mod common;

use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::debian;
use nsbox::{Container, Mount, Network, Port, Ready, Signal, Stdio, Upper};
use nsbox_image::commit::CommitOptions;
use nsbox_image::run::{ImageRun, Overrides};
use nsbox_image::{Source, Store};

fn sh(script: &str) -> Overrides {
    Overrides {
        cmd: Some(vec!["/bin/sh".into(), "-c".into(), script.into()]),
        user: Some("0".into()),
        ..Default::default()
    }
}

/// Imports `source` into a fresh root store and runs `cat /etc/os-release` and the layer
/// checks in it (the Fixture profile, as root).
fn imports_and_runs(source: impl FnOnce(&debian::DebianImage) -> Source) {
    let Some(image) = debian::image() else { return };
    let dir = common::public_dir("nsbox-debian-");
    let store = Store::open(dir.path().join("store")).unwrap();
    let started = Instant::now();
    let imported = store.import(&source(&image), debian::REFERENCE, |_| {}).unwrap();
    eprintln!("import: {:.1?}, {} layers", started.elapsed(), imported.layers().len());
    let script = format!(
        "cat /etc/os-release; cat {}; test -e {} && echo present || echo whited-out; ls -ln /etc/shadow",
        debian::LAYER2_FILE,
        debian::WHITED_OUT
    );
    let mut builder = Container::builder();
    ImageRun::new(&store, debian::REFERENCE)
        .unwrap()
        .overrides(sh(&script))
        .apply(&mut builder)
        .unwrap();
    let out = builder.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}: {text}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("VERSION_CODENAME=bookworm"), "{text}");
    assert!(text.contains(debian::LAYER2_CONTENT), "{text}");
    assert!(text.contains("whited-out"), "{text}");
    let shadow: Vec<&str> = text.lines().last().unwrap().split_whitespace().collect();
    assert_eq!((shadow[0], shadow[2], shadow[3]), ("-rw-r-----", "0", "42"), "{text}");
}

#[test]
fn the_debian_oci_layout_imports_and_runs() {
    imports_and_runs(|image| Source::oci_layout(&image.oci_layout));
}

#[test]
fn the_debian_docker_archive_imports_and_runs() {
    imports_and_runs(|image| Source::docker_archive(&image.docker_archive));
}

#[test]
fn the_debian_rootfs_tar_imports_and_runs() {
    imports_and_runs(|image| Source::rootfs_tar(&image.rootfs_tar));
}

/// The seed's nginx.conf (tests/network.rs, examples/nginx.rs) and the primer's conf.d and html.
fn primer_site(dir: &std::path::Path) {
    fs::write(
        dir.join("nginx.conf"),
        "user www-data; worker_processes 1; pid /run/nginx.pid; error_log stderr;
events { worker_connections 64; }
http { include /etc/nginx/mime.types; access_log off; include /etc/nginx/conf.d/*.conf; }\n",
    )
    .unwrap();
    fs::create_dir(dir.join("conf.d")).unwrap();
    fs::write(
        dir.join("conf.d/default.conf"),
        "server { listen 80; root /usr/share/nginx/html; }\n",
    )
    .unwrap();
    fs::create_dir(dir.join("html")).unwrap();
    fs::write(dir.join("html/index.html"), "<h1>MY Nginx!</h1>\n").unwrap();
}

const INSTALL_NGINX: &str = "set -e
export DEBIAN_FRONTEND=noninteractive
apt-get -q update
apt-get -q install -y --no-install-recommends nginx
apt-get clean
rm -rf /var/lib/apt/lists/*";

/// The Debian image with nginx in a layer of its own, built by apt-get in a container of the
/// image and committed; `None` where the image or the mirror is missing.
fn commit_nginx_layer(store: &Store, work: &std::path::Path) -> Option<nsbox_image::Image> {
    let base = store.inspect(debian::REFERENCE).unwrap();
    let log_path = work.join("apt.log");
    let log = File::create(&log_path).unwrap();
    let mut builder = Container::builder();
    builder
        .network(Network::Host)
        .mount(Mount::bind("/etc/resolv.conf", "/etc/resolv.conf").read_only())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log));
    let upper = work.join("container");
    ImageRun::new(store, debian::REFERENCE)
        .unwrap()
        .overrides(sh(INSTALL_NGINX))
        .upper(Upper::Dir(upper.clone()))
        .apply(&mut builder)
        .unwrap();
    let started = Instant::now();
    let mut apt = builder.spawn().unwrap();
    let status = match apt.wait_timeout(Duration::from_secs(600)).unwrap() {
        Some(status) => status,
        None => {
            apt.kill(Signal::SIGKILL).unwrap();
            apt.wait().unwrap()
        }
    };
    let text = fs::read_to_string(&log_path).unwrap_or_default();
    eprintln!("apt-get install nginx: {:.1?}, {status}", started.elapsed());
    if !status.success() {
        let unreachable = text.contains("Temporary failure resolving") || text.contains("Could not connect");
        let reason = format!("apt-get install nginx in the Debian image ({status}):\n{text}");
        assert!(unreachable, "{reason}");
        common::require(&reason, false);
        return None;
    }
    let started = Instant::now();
    let options = CommitOptions::default().comment("apt-get install nginx");
    let image = store
        .commit(&base, upper.join("upper"), "debian-nginx:test", &options)
        .unwrap();
    eprintln!("commit: {:.1?}", started.elapsed());
    assert_eq!(image.layers().len(), base.layers().len() + 1);
    assert_eq!(image.layers()[..base.layers().len()], base.layers()[..]);
    let diff_ids = image.config().rootfs().diff_ids();
    assert_eq!(
        diff_ids.last().unwrap(),
        &image.layers().last().unwrap().diff_id().to_string()
    );
    Some(image)
}

#[test]
fn the_seeds_nginx_runs_from_the_debian_image_with_nginx_committed_in_a_layer() {
    let Some(image) = debian::image() else { return };
    let dir = common::public_dir("nsbox-debian-nginx-");
    let store = Store::open(dir.path().join("store")).unwrap();
    store
        .import(
            &Source::docker_archive(&image.docker_archive),
            debian::REFERENCE,
            |_| {},
        )
        .unwrap();
    let Some(_nginx) = commit_nginx_layer(&store, dir.path()) else {
        return;
    };
    let site = dir.path().join("site");
    fs::create_dir(&site).unwrap();
    primer_site(&site);

    let mut builder = Container::builder();
    builder
        .publish(Port::tcp(0, 80))
        .mount(Mount::bind(site.join("nginx.conf"), "/etc/nginx/nginx.conf").read_only())
        .mount(Mount::bind(site.join("conf.d"), "/etc/nginx/conf.d").read_only())
        .mount(Mount::bind(site.join("html"), "/usr/share/nginx/html").read_only())
        .stderr(Stdio::null());
    let overrides = Overrides {
        cmd: Some(vec!["nginx".into(), "-g".into(), "daemon off;".into()]),
        ..Default::default()
    };
    ImageRun::new(&store, "debian-nginx:test")
        .unwrap()
        .overrides(overrides)
        .apply(&mut builder)
        .unwrap();
    let mut web = builder.spawn().unwrap();
    web.wait_for(Ready::port(80).timeout(Duration::from_secs(60))).unwrap();
    let address = web.ports()[0].host;
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    stream.read_to_string(&mut page).unwrap();
    println!("{page}");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("MY Nginx!"), "{page}");
    web.kill(Signal::SIGQUIT).unwrap();
    if web.wait_timeout(Duration::from_secs(20)).unwrap().is_none() {
        web.kill(Signal::SIGKILL).unwrap();
    }
    web.wait().unwrap();
}
