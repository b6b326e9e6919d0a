//! `exec`: a process in a running container, described by `--process process.json` (the
//! spec's `process` object, as Docker and containerd write it) or by the command line.

use std::io::Read;

use oci_spec::runtime::Process;

use crate::Ctx;
use crate::error::{Context, Error, Result, fail};
use crate::state::Status;

/// The largest process.json read.
const MAX_PROCESS: u64 = 1 << 20;

/// The exit code `exec` ends with (0 with `--detach`).
pub fn exec(ctx: &mut Ctx, a: &liboci_cli::Exec) -> Result<i32> {
    let state = ctx.store.load(&a.container_id)?;
    // As runc: a created container (parked at its gate, everything set up) takes execs too.
    match ctx.store.status(&state) {
        Status::Running | Status::Created | Status::Creating => {}
        Status::Paused if a.ignore_paused => {}
        Status::Paused => fail!("cannot exec in a paused container (use --ignore-paused to override)"),
        Status::Stopped => fail!("cannot exec in a stopped container"),
    }
    let process = process(a)?;
    let args = process.args().clone().unwrap_or_default();
    let Some(command) = args.first() else {
        fail!("exec: process.args must not be empty");
    };
    match (process.terminal().unwrap_or(false), a.console_socket.is_some()) {
        (true, false) if a.detach => {
            fail!("cannot allocate tty if nsbox-runtime will detach without setting console socket")
        }
        (true, false) => {
            fail!("a terminal without --console-socket is not supported: nsbox-runtime does not proxy one")
        }
        (false, true) => fail!("cannot use console socket if nsbox-runtime will not detach or allocate tty"),
        _ => {}
    }
    super::exec_flags::refuse(a)?;
    // A process.json says everything (Docker and containerd copy the container's process and
    // change it): what an exec cannot differ in from the container is checked, its
    // capabilities are taken as given (`docker exec --privileged` sends every one). The
    // command line's exec is the container's process with its args, env, cwd, user and
    // terminal, as runc makes it.
    let capabilities = match &a.process {
        Some(_) => {
            let bundle = nsbox_oci::Bundle::open(&state.bundle)?;
            let container_process = bundle.spec().process().clone().unwrap_or_default();
            Some(super::exec_process::check(&process, &container_process)?)
        }
        None => None,
    };
    // The pid is the container's: its start time was checked by `status` above.
    let container = crate::verbs::adopt(&state)?;
    let mut exec = container.exec();
    if let Some(sets) = capabilities {
        super::exec_process::apply(&mut exec, sets);
    }
    super::exec_flags::apply(&mut exec, a)?;
    // process.execCPUAffinity: the process.json's, else the bundle's process's, as runc's.
    let affinity = match &a.process {
        Some(_) => process.exec_cpu_affinity().clone(),
        None => nsbox_oci::Bundle::open(&state.bundle)?
            .spec()
            .process()
            .as_ref()
            .and_then(|p| p.exec_cpu_affinity().clone()),
    };
    super::exec_flags::cpu_affinity(&mut exec, affinity.as_ref());
    exec.command(command).args(&args[1..]).env_clear();
    for entry in process.env().iter().flatten() {
        let Some((k, v)) = entry.split_once('=') else {
            fail!("process.env: {entry:?} has no '='");
        };
        exec.env(k, v);
    }
    exec.current_dir(process.cwd());
    exec.user(process.user().uid(), process.user().gid());
    exec.groups(process.user().additional_gids().clone().unwrap_or_default());
    if process.terminal().unwrap_or(false) {
        exec.tty(true);
        if let Some(size) = process.console_size() {
            exec.tty_size(size.height() as u16, size.width() as u16);
        }
    }
    if a.detach {
        // Forked away: its parent becomes the engine's shim (a subreaper), which reaps it
        // by the pid in --pid-file.
        let detached = exec
            .spawn_detached()
            .map_err(|e| crate::error::spawn_error(&e, command))?;
        if let Some(socket) = &a.console_socket {
            let pty = detached
                .pty
                .ok_or_else(|| Error("the process has no terminal to send".into()))?;
            crate::console::send(socket, &pty)?;
        }
        if let Some(path) = &a.pid_file {
            crate::verbs::create::write_pid_file(path, detached.pid)?;
        }
        return Ok(0);
    }
    let mut running = exec.spawn().map_err(|e| crate::error::spawn_error(&e, command))?;
    if let Some(socket) = &a.console_socket {
        let pty = running
            .take_pty()
            .ok_or_else(|| Error("the process has no terminal to send".into()))?;
        crate::console::send(socket, &pty)?;
    }
    if let Some(path) = &a.pid_file {
        crate::verbs::create::write_pid_file(path, exec_pid(&running)?)?;
    }
    let status = running.wait().context("cannot wait for the process")?;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().map_or(0, |s| s.as_raw())))
}

/// The exec'd process's host pid, from its pidfd (`/proc/self/fdinfo`'s `Pid:` line).
fn exec_pid(exec: &nsbox::Exec) -> Result<u32> {
    use std::os::fd::AsRawFd;
    let fd = exec.pidfd().as_raw_fd();
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).context("pidfd")?;
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| Error("cannot read the exec'd process's pid".into()))
}

/// The process to run: `--process` (`-`: stdin), else the command line's.
fn process(a: &liboci_cli::Exec) -> Result<Process> {
    if let Some(path) = &a.process {
        let mut text = Vec::new();
        let read = if path.as_os_str() == "-" {
            std::io::stdin().take(MAX_PROCESS).read_to_end(&mut text)
        } else {
            std::fs::File::open(path).and_then(|f| f.take(MAX_PROCESS).read_to_end(&mut text))
        };
        read.context(format_args!("cannot read {}", path.display()))?;
        return serde_json::from_slice(&text).context("process.json is not a valid process");
    }
    if a.command.is_empty() {
        fail!("exec: no command given (--process or arguments)");
    }
    let mut json = serde_json::json!({
        "args": a.command,
        "cwd": a.cwd.clone().unwrap_or_else(|| "/".into()),
        "env": a.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "terminal": a.tty,
        "user": {"uid": 0, "gid": 0},
    });
    if let Some((uid, gid)) = a.user {
        json["user"] = serde_json::json!({"uid": uid, "gid": gid.unwrap_or(0), "additionalGids": a.additional_gids});
    }
    serde_json::from_value(json).context("exec")
}
