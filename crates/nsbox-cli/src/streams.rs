//! A container's (or an exec's) stdio as the command relays them: never the command's own
//! fds in the container (a container root could reopen them through /proc/self/fd and chmod
//! or rewrite the files behind them), but pipes the monitor makes and hands over, or a pty.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use serde::{Deserialize, Serialize};

/// What came with a `Started` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Streams {
    /// Nothing: output goes to the logs (or nowhere).
    None,
    /// The pty's master.
    Pty,
    /// Pipes: stdin's write end (with `-i`), then stdout's and stderr's read ends.
    Pipes { stdin: bool },
}

/// The fds to send for `streams`, taken from a container or an exec's handle.
pub struct Ends {
    pub pty: Option<OwnedFd>,
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

impl Ends {
    pub fn streams(&self) -> Streams {
        match (&self.pty, &self.stdout) {
            (Some(_), _) => Streams::Pty,
            (None, Some(_)) => Streams::Pipes {
                stdin: self.stdin.is_some(),
            },
            (None, None) => Streams::None,
        }
    }

    /// The raw fds in the order the message carries them.
    pub fn raw(&self) -> Vec<RawFd> {
        [&self.pty, &self.stdin, &self.stdout, &self.stderr]
            .into_iter()
            .flatten()
            .map(|fd| fd.as_fd().as_raw_fd())
            .collect()
    }
}

/// Relays received pipes to this command's stdio until the other side closes them; returns
/// the threads copying output (join them to have all of it).
pub fn relay_pipes(stdin: bool, mut fds: Vec<OwnedFd>) -> Vec<std::thread::JoinHandle<()>> {
    let mut threads = Vec::new();
    if fds.len() != 2 + usize::from(stdin) {
        return threads;
    }
    let stderr = fds.pop().expect("counted");
    let stdout = fds.pop().expect("counted");
    if stdin {
        let input = File::from(fds.pop().expect("counted"));
        // Not joined: it ends at our stdin's EOF (then the container's stdin closes) or when
        // the container's side is gone.
        std::thread::spawn(move || copy(std::io::stdin().lock(), input));
    }
    threads.push(std::thread::spawn(move || {
        copy(File::from(stdout), std::io::stdout().lock())
    }));
    threads.push(std::thread::spawn(move || {
        copy(File::from(stderr), std::io::stderr().lock())
    }));
    threads
}

fn copy(mut from: impl Read, mut to: impl Write) {
    let mut buf = [0u8; 16 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).and_then(|_| to.flush()).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Waits for the output relays, at most `bound` after the process ended: a process left in
/// the container that still holds the pipes must not hold the command forever.
pub fn finish(threads: Vec<std::thread::JoinHandle<()>>, bound: std::time::Duration) {
    let deadline = std::time::Instant::now() + bound;
    for thread in threads {
        while !thread.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}
