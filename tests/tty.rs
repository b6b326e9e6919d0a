//! Terminals: a pty of the container's own devpts as the payload's stdio and controlling
//! terminal, sized at spawn and resized on the handle, driven through its master; input the
//! payload pushes into it (TIOCSTI) is refused.

mod common;

use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Duration;

use nsbox::{ConfigError, Container, Error, Pty, Setting};

/// Everything the payload writes to its terminal until it closes it (EIO on the master), with
/// a guard against a payload that never does.
fn screen(mut pty: Pty) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match pty.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => all.extend_from_slice(&chunk[..n]),
                Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
                Err(e) => panic!("read the pty: {e}"),
            }
        }
        let _ = tx.send(String::from_utf8_lossy(&all).replace('\r', ""));
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the terminal was never closed")
}

fn tty_and_size() {
    let mut c = Container::builder()
        .tty_size(40, 100)
        .command("/bin/sh")
        .args(["-c", "tty; stty size"])
        .spawn()
        .expect("spawn with a tty");
    let pty = c.take_pty().expect("a pty");
    let text = screen(pty);
    assert!(c.wait().unwrap().success());
    assert_eq!(text, "/dev/pts/0\n40 100\n");
}

#[test]
fn the_terminal_is_the_containers_own_pts_with_the_size_asked() {
    if common::root() {
        tty_and_size();
    }
}

#[test]
fn a_resize_is_seen_by_the_payload() {
    if !common::root() {
        return;
    }
    let mut c = Container::builder()
        .tty(true)
        .command("/bin/sh")
        .args(["-c", "stty size; read go; stty size"])
        .spawn()
        .unwrap();
    let mut pty = c.take_pty().unwrap();
    let mut first = [0u8; 7];
    pty.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"24 80\r\n");
    pty.resize(50, 120).unwrap();
    assert_eq!(pty.size().unwrap(), (50, 120));
    pty.write_all(b"go\n").unwrap();
    let text = screen(pty);
    assert!(c.wait().unwrap().success());
    assert!(text.ends_with("50 120\n"), "{text:?}");
}

#[test]
fn an_interactive_shell_answers_through_the_master() {
    if !common::root() {
        return;
    }
    let mut c = Container::builder().tty(true).command("/bin/sh").spawn().unwrap();
    let mut pty = c.take_pty().unwrap();
    pty.write_all(b"echo $((6 * 7)); exit 3\n").unwrap();
    let text = screen(pty);
    assert_eq!(c.wait().unwrap().code(), Some(3));
    // The terminal echoes the typed-ahead line; the answer follows the shell's prompt.
    assert!(
        text.lines().any(|l| l.ends_with("42") && !l.contains("echo")),
        "{text:?}"
    );
}

#[test]
fn the_payload_cannot_push_input_into_its_terminal() {
    if !common::root_and_python() {
        return;
    }
    let script = "import fcntl, termios\ntry:\n    fcntl.ioctl(0, termios.TIOCSTI, b'x')\n    print('injected')\nexcept OSError as e:\n    print(e.strerror)";
    let mut c = Container::builder()
        .tty(true)
        .command(common::PYTHON)
        .args(["-c", script])
        .spawn()
        .unwrap();
    let text = screen(c.take_pty().unwrap());
    c.wait().unwrap();
    assert_eq!(text, "Operation not permitted\n");
}

/// An exec into a container with a terminal takes the stdio it is given, not the terminal.
#[test]
fn exec_into_a_container_with_a_terminal_takes_its_own_stdio() {
    if !common::root() {
        return;
    }
    let mut c = Container::builder()
        .tty(true)
        .command("/bin/sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let out = c.exec().command("/bin/echo").arg("hi").output().unwrap();
    assert_eq!(out.stdout, b"hi\n");
    c.kill(nsbox::Signal::SIGKILL).unwrap();
    c.wait().unwrap();
}

#[test]
fn an_exec_with_a_terminal_gets_a_pts_of_the_container() {
    if !common::root() {
        return;
    }
    let mut c = Container::builder().command("/bin/sleep").arg("30").spawn().unwrap();
    let mut exec = c
        .exec()
        .tty_size(30, 90)
        .command("/bin/sh")
        .args(["-c", "tty; stty size"])
        .spawn()
        .unwrap();
    let text = screen(exec.take_pty().expect("a pty"));
    assert!(exec.wait().unwrap().success());
    assert_eq!(text, "/dev/pts/0\n30 90\n");
    c.kill(nsbox::Signal::SIGKILL).unwrap();
    c.wait().unwrap();
}

#[test]
fn a_terminal_needs_a_new_session() {
    let err = Container::builder()
        .tty(true)
        .new_session(false)
        .command("/bin/true")
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Config(ConfigError::Requires {
                setting: Setting::Tty,
                requires: Setting::NewSession
            })
        ),
        "{err}"
    );
}

const INNER: &str = "NSBOX_TTY_INNER";

#[test]
fn terminals_work_for_an_unprivileged_caller() {
    common::inner_tests_pass_as_nobody(INNER, 1);
}

#[test]
fn inner_rootless_terminal() {
    if std::env::var_os(INNER).is_some_and(|v| v == "1") {
        assert!(!common::is_root());
        tty_and_size();
    }
}

/// `/dev/console` is the container's terminal (runc's convention, which init systems and
/// getty expect), owned by the payload's user like the pts itself; an exec's terminal is not
/// bound there.
#[test]
fn dev_console_is_the_payloads_terminal_owned_by_its_user() {
    if !common::root() {
        return;
    }
    let script = "stat -c '%t:%T %u' /dev/console $(tty); grep -c ' /dev/console ' /proc/self/mountinfo";
    let mut c = Container::builder()
        .tty(true)
        .user(1000, 1000)
        .command("/bin/sh")
        .args(["-c", script])
        .spawn()
        .unwrap();
    let pty = c.take_pty().unwrap();
    let text = screen(pty);
    assert!(c.wait().unwrap().success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text:?}");
    assert_eq!(lines[0], lines[1], "/dev/console is not the pts: {text:?}");
    assert!(lines[0].ends_with(" 1000"), "not owned by the payload's uid: {text:?}");
    assert_eq!(lines[2], "1", "{text:?}");
}
