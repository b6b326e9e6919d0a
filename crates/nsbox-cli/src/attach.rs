//! A foreground container attached to the command: its pty pumped to and from the command's
//! terminal (raw mode while it runs, window size followed), and the signals the command gets
//! forwarded to it (Docker's sig-proxy).

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::termios::{self, SetArg, Termios};

use crate::monitor::client;
use crate::monitor::protocol::Request;
use crate::state::ContainerDir;

/// Forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 that this command receives to
/// the container (and, with a terminal, SIGWINCH as a resize), from a thread of its own.
pub fn forward_signals(dir: ContainerDir, resize: bool) -> Option<()> {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        set.add(s);
    }
    if resize {
        set.add(Signal::SIGWINCH);
    }
    set.thread_block().ok()?;
    std::thread::spawn(move || {
        loop {
            let Ok(signal) = set.wait() else { return };
            if signal == Signal::SIGWINCH {
                if let (Some(size), Some(pty)) = (terminal_size(), PTY.get()) {
                    set_size(pty, size);
                }
                continue;
            }
            let _ = client::call(&dir, &Request::Kill { signal: signal as i32 });
        }
    });
    Some(())
}

/// The pty's master, for the resize on SIGWINCH.
static PTY: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();

/// Copies the command's stdin to the pty (with `-i`) and the pty to the command's stdout until
/// the container's side closes; the terminal is raw meanwhile, and restored.
pub fn pump_terminal(pty: OwnedFd, interactive: bool) {
    if let Some(size) = terminal_size() {
        set_size(&pty, size);
    }
    if let Ok(dup) = pty.try_clone() {
        let _ = PTY.set(dup);
    }
    let _raw = RawMode::enter();
    let mut master = File::from(pty);
    if interactive && let Ok(mut input) = master.try_clone() {
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 4096];
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => {
                        // EOF from the user: ^D to the terminal.
                        let _ = input.write_all(&[4]);
                        return;
                    }
                    Ok(n) => {
                        if input.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        });
    }
    let mut stdout = std::io::stdout().lock();
    let mut buf = [0u8; 8192];
    loop {
        match master.read(&mut buf) {
            // EIO: the container's side of the terminal is closed.
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if stdout.write_all(&buf[..n]).and_then(|_| stdout.flush()).is_err() {
                    break;
                }
            }
        }
    }
}

struct RawMode(Option<Termios>);

impl RawMode {
    fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let Ok(saved) = termios::tcgetattr(stdin.as_fd()) else {
            return RawMode(None);
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

/// The command's terminal size (rows, columns), if stdin or stdout is a terminal.
pub fn terminal_size() -> Option<(u16, u16)> {
    for fd in [0, 1] {
        // SAFETY: winsize is plain data; TIOCGWINSZ fills it.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: ioctl on a standard fd with a valid out-pointer.
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0 && size.ws_row > 0 {
            return Some((size.ws_row, size.ws_col));
        }
    }
    None
}

fn set_size(pty: &OwnedFd, (rows, cols): (u16, u16)) {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: ioctl on the pty master with a valid winsize.
    unsafe { libc::ioctl(pty.as_raw_fd(), libc::TIOCSWINSZ, &size) };
}
