//! Readiness waits against the real kernel: a line of output (through the logs and through
//! pipes, nothing lost), a command run inside, a port (published or not); the typed error of
//! a timeout with what was seen last, and a container exit that ends a wait at once.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, SystemTime};

use nsbox::logs::{LogConfig, LogReader, Stream};
use nsbox::{Container, Error, Mount, NotReadyReason, Port, Ready, ReadyError, Stdio};

/// Generous bound for waits that only guard against hangs.
const BOUND: Duration = Duration::from_secs(60);

/// A server that prints "getting ready", "ready" 500 ms later, then "after", and runs until
/// `stop` appears in the shared directory.
fn ready_server(data: &Path) -> nsbox::ContainerBuilder {
    let mut builder = Container::builder();
    builder.mount(Mount::bind(data, "/data")).command("/bin/sh").args([
        "-c",
        "echo getting ready; sleep 0.5; echo ready; echo after; while [ ! -e /data/stop ]; do sleep 0.02; done",
    ]);
    builder
}

fn exactly_ready() -> Ready {
    Ready::output_matches("the line \"ready\"", |line| line == b"ready").timeout(BOUND)
}

fn not_ready(result: nsbox::Result<()>) -> ReadyError {
    match result {
        Err(Error::NotReady(e)) => e,
        other => panic!("expected NotReady, got {other:?}"),
    }
}

#[test]
fn output_wait_on_logs_returns_after_the_line_and_keeps_the_output() {
    if !common::root() {
        return;
    }
    let (dir, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut c = ready_server(data.path())
        .logs(LogConfig::new(dir.path()))
        .spawn()
        .unwrap();
    c.wait_for(exactly_ready()).unwrap();
    let returned = SystemTime::now();
    // The line was logged (stamped as the writer read it) before the wait returned.
    let logged = LogReader::open(dir.path()).entries().unwrap().map(Result::unwrap);
    let ready = logged
        .into_iter()
        .find(|e| e.line() == b"ready")
        .expect("ready is logged");
    assert!(ready.time <= returned, "{:?} > {returned:?}", ready.time);
    assert!(c.try_wait().unwrap().is_none());
    std::fs::write(data.path().join("stop"), "").unwrap();
    assert!(c.wait().unwrap().success());
    let all: Vec<_> = c.logs().unwrap().entries().unwrap().map(|e| e.unwrap().bytes).collect();
    assert_eq!(all, [&b"getting ready\n"[..], b"ready\n", b"after\n"]);
}

#[test]
fn output_wait_on_pipes_keeps_every_byte_for_take_stdout() {
    if !common::root() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let mut c = ready_server(data.path()).stdout(Stdio::piped()).spawn().unwrap();
    c.wait_for(exactly_ready().stream(Stream::Stdout)).unwrap();
    // The container is still running: the wait saw the line, not the end.
    assert!(c.try_wait().unwrap().is_none());
    let mut stdout = c.take_stdout().unwrap();
    std::fs::write(data.path().join("stop"), "").unwrap();
    let mut text = String::new();
    stdout.read_to_string(&mut text).unwrap();
    assert_eq!(text, "getting ready\nready\nafter\n");
    assert!(c.wait().unwrap().success());
}

#[test]
fn output_wait_on_stderr_keeps_every_byte_for_wait_with_output() {
    if !common::root() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let mut c = Container::builder()
        .mount(Mount::bind(data.path(), "/data"))
        .command("/bin/sh")
        .args(["-c", "echo out; echo one >&2; sleep 0.5; echo ready >&2; echo two >&2; while [ ! -e /data/stop ]; do sleep 0.02; done"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.wait_for(Ready::output_contains("ready").stream(Stream::Stderr).timeout(BOUND))
        .unwrap();
    // A second wait looks at the output from its start too.
    c.wait_for(Ready::output_contains("one").timeout(BOUND)).unwrap();
    std::fs::write(data.path().join("stop"), "").unwrap();
    let out = c.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "one\nready\ntwo\n");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
}

#[test]
fn output_wait_without_a_pipe_or_logs_says_so() {
    if !common::root() {
        return;
    }
    let mut c = Container::builder()
        .command("/bin/sleep")
        .arg("60")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let e = not_ready(c.wait_for(Ready::output_contains("x").timeout(BOUND)));
    assert!(
        matches!(&e.reason, NotReadyReason::Unobservable(why) if why.contains("not piped")),
        "{e}"
    );
}

#[test]
fn exec_wait_succeeds_once_a_file_appears() {
    if !common::root() {
        return;
    }
    let mut c = common::sh_builder("sleep 0.5; touch /tmp/ready; sleep 60")
        .spawn()
        .unwrap();
    c.wait_for(Ready::exec(["/bin/test", "-e", "/tmp/ready"]).timeout(BOUND))
        .unwrap();
    // It returned because the file is there.
    let status = c
        .exec()
        .command("/bin/test")
        .args(["-e", "/tmp/ready"])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn each_timeout_is_a_typed_error_with_what_was_seen_last() {
    if !common::root() {
        return;
    }
    let short = Duration::from_millis(700);
    let mut c = common::sh_builder("echo hello; sleep 60")
        .publish(Port::tcp(0, 81))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    let e = not_ready(c.wait_for(Ready::output_contains("never").timeout(short)));
    assert_eq!(
        (&e.reason, e.last_seen.as_deref()),
        (&NotReadyReason::TimedOut, Some("hello"))
    );
    assert!(e.awaited.contains("\"never\""), "{e}");
    assert!(e.waited >= short);

    let e = not_ready(c.wait_for(Ready::exec(["/bin/test", "-e", "/never"]).timeout(short)));
    assert_eq!(e.reason, NotReadyReason::TimedOut);
    assert!(e.last_seen.as_deref().is_some_and(|s| s.contains('1')), "{e}");

    let e = not_ready(c.wait_for(Ready::port(81).timeout(short)));
    assert_eq!(e.reason, NotReadyReason::TimedOut);
    let seen = e.last_seen.clone().unwrap_or_default();
    // Refused by a forwarder that listens only when something does inside; accepted, then
    // reset or closed, by one that does not.
    assert!(["refused", "reset", "closed"].iter().any(|s| seen.contains(s)), "{e}");
    assert!(e.to_string().contains("tcp port 81"), "{e}");

    // Unpublished, tried inside the container's network namespace.
    let e = not_ready(c.wait_for(Ready::port(82).timeout(short)));
    assert_eq!(e.reason, NotReadyReason::TimedOut);
    assert!(e.last_seen.unwrap_or_default().contains("refused"));
}

#[test]
fn a_container_exit_ends_each_wait_with_its_status() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exits = |script: &str| common::sh_builder(script).stdout(Stdio::piped()).spawn().unwrap();
    let code = |e: &ReadyError| match e.reason {
        NotReadyReason::Exited(status) => status.code(),
        _ => panic!("{e}"),
    };
    let e = not_ready(exits("echo bye; exit 7").wait_for(Ready::output_contains("ready").timeout(BOUND)));
    assert_eq!((code(&e), e.last_seen.as_deref()), (Some(7), Some("bye")));
    let mut logged = common::sh_builder("echo bye; exit 5")
        .logs(LogConfig::new(dir.path()))
        .spawn()
        .unwrap();
    let e = not_ready(logged.wait_for(Ready::output_contains("ready").timeout(BOUND)));
    assert_eq!((code(&e), e.last_seen.as_deref()), (Some(5), Some("bye")));
    let e = not_ready(exits("sleep 0.3; exit 3").wait_for(Ready::port(80).timeout(BOUND)));
    assert_eq!(code(&e), Some(3));
    let e = not_ready(exits("sleep 0.3; exit 4").wait_for(Ready::exec(["/bin/false"]).timeout(BOUND)));
    assert_eq!(code(&e), Some(4));
    // A line printed just before the exit still counts.
    exits("echo ready; exit 0")
        .wait_for(Ready::output_contains("ready").timeout(BOUND))
        .unwrap();
}

/// `/www/index.html` holds `body`; httpd starts listening on `port` after a second.
fn late_httpd(port: u16, body: &str) -> nsbox::ContainerBuilder {
    let mut builder = Container::builder();
    builder.mount(Mount::tmpfs("/www")).command("/bin/sh").args([
        "-c",
        &format!("echo {body} > /www/index.html; sleep 1; exec /bin/busybox httpd -f -p {port} -h /www"),
    ]);
    builder
}

fn get(addr: std::net::SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(BOUND)).unwrap();
    stream.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

#[test]
fn port_wait_on_a_published_port_lets_the_first_request_through() {
    if !(common::root_and_busybox()) {
        return;
    }
    for round in 0..3 {
        let mut c = late_httpd(80, "hello").publish(Port::tcp(0, 80)).spawn().unwrap();
        c.wait_for(Ready::port(80).timeout(BOUND)).unwrap();
        let reply = get(c.ports()[0].host);
        assert!(
            reply.starts_with("HTTP/1.1 200") && reply.ends_with("hello\n"),
            "round {round}: {reply:?}"
        );
    }
}

#[test]
fn port_wait_on_an_unpublished_port_joins_the_network_namespace() {
    if !(common::root_and_busybox()) {
        return;
    }
    let mut c = late_httpd(90, "inside").spawn().unwrap();
    c.wait_for(Ready::port(90).timeout(BOUND)).unwrap();
    let out = c
        .exec()
        .command("/bin/busybox")
        .args(["wget", "-q", "-O", "-", "http://127.0.0.1:90/index.html"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "inside\n");
}
