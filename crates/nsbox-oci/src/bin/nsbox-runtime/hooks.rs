//! The bundle's hooks, run by the runtime as the spec says: the container's state JSON on
//! stdin, `path` executed with `args` (whose first is argv[0]) and exactly `env`, killed
//! after `timeout` seconds. Their output is kept (bounded) for the error message.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

/// What of a failing hook's output the error message shows.
const OUTPUT_KEPT: u64 = 4096;

/// Runs `hooks` (of kind `kind`, for messages) in order with `state` on stdin; the first
/// failure stops the rest.
pub fn run(kind: &str, hooks: &[Hook], state: &serde_json::Value) -> Result<()> {
    let input = state.to_string();
    for (i, hook) in hooks.iter().enumerate() {
        run_one(hook, input.as_bytes())
            .map_err(|e| Error(format!("{kind} hook #{i} ({}): {e}", hook.path().display())))?;
    }
    Ok(())
}

fn run_one(hook: &Hook, input: &[u8]) -> std::result::Result<(), String> {
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args() {
        if let Some(first) = args.first() {
            cmd.arg0(first);
        }
        cmd.args(args.iter().skip(1));
    }
    cmd.env_clear();
    for entry in hook.env().iter().flatten() {
        if let Some((k, v)) = entry.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    // Threads: a hook that does not read its stdin, or writes a lot, must not block us.
    let mut stdin = child.stdin.take();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        if let Some(s) = &mut stdin {
            let _ = s.write_all(&input); // a hook may ignore its stdin (EPIPE)
        }
    });
    // Output is collected through a channel: a daemon the hook left holding its stdout must
    // not keep us waiting once the hook itself is done.
    let (sender, outputs) = std::sync::mpsc::channel::<Vec<u8>>();
    let streams: [Option<Box<dyn Read + Send>>; 2] = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
    ];
    for mut stream in streams.into_iter().flatten() {
        let sender = sender.clone();
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let _ = (&mut stream).take(OUTPUT_KEPT).read_to_end(&mut kept);
            let _ = sender.send(kept);
            let _ = std::io::copy(&mut stream, &mut std::io::sink());
        });
    }
    drop(sender);
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t.max(0) as u64));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => {}
            Err(e) => break Err(e.to_string()),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            break Err(format!("timed out after {}s", hook.timeout().unwrap_or(0)));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    drop(writer); // finishes on its own: the hook's stdin is closed now that it exited
    let status = status?;
    if status.success() {
        return Ok(());
    }
    let mut output = Vec::new();
    let until = Instant::now() + Duration::from_millis(500);
    while let Ok(part) = outputs.recv_timeout(until.saturating_duration_since(Instant::now())) {
        output.extend(part);
    }
    let output = String::from_utf8_lossy(&output);
    Err(format!("{status}: {}", output.trim()))
}
