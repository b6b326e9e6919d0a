//! `inspect` (JSON, Docker's main fields), `port` and `top`.

use std::os::unix::fs::MetadataExt;

use serde_json::json;

use crate::cli::{ContainersArgs, PortArgs, TopArgs};
use crate::error::{CliError, Result};
use crate::paths::Paths;
use crate::state::{ContainerDir, StateRoot};
use crate::time::rfc3339;

pub fn inspect(paths: &Paths, args: ContainersArgs) -> Result<i32> {
    let state = StateRoot::open(paths)?;
    let mut all = Vec::new();
    let mut code = 0;
    for key in &args.containers {
        match state.find(key).and_then(|dir| describe(&dir)) {
            Ok(value) => all.push(value),
            Err(e) => {
                eprintln!("nsbox: {}", e.message);
                code = e.code;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&all).expect("json"));
    Ok(code)
}

fn describe(dir: &ContainerDir) -> Result<serde_json::Value> {
    let (spec, status) = (dir.spec()?, dir.status()?);
    let time = |t: Option<f64>| t.map_or_else(|| "0001-01-01T00:00:00Z".to_owned(), rfc3339);
    Ok(json!({
        "Id": dir.id,
        "Created": rfc3339(status.created),
        "Path": status.command.first(),
        "Args": status.command.get(1..).unwrap_or_default(),
        "State": {
            "Status": status.state.name(),
            "Running": status.is_running(),
            "Paused": status.state == crate::state::State::Paused,
            "Dead": status.state == crate::state::State::Dead,
            "Pid": status.container.map_or(0, |p| p.pid),
            "ExitCode": status.exit_code.unwrap_or(0),
            "OOMKilled": status.oom_killed,
            "Error": status.error.clone().unwrap_or_default(),
            "StartedAt": time(status.started),
            "FinishedAt": time(status.finished),
        },
        "Image": spec.image_pinned,
        "Name": format!("/{}", spec.name.clone().unwrap_or_default()),
        "LogPath": dir.logs().join("container.log"),
        "HostConfig": {
            "Binds": spec.volumes.iter().map(|v| format!("{}:{}{}", v.source.display(), v.target.display(), if v.read_only { ":ro" } else { "" })).collect::<Vec<_>>(),
            "Memory": spec.memory.unwrap_or(0),
            "NanoCpus": spec.cpus.map_or(0, |c| (c * 1e9) as u64),
            "PidsLimit": spec.pids_limit,
            "ReadonlyRootfs": spec.read_only,
            "AutoRemove": spec.rm,
            "NetworkMode": match &spec.network {
                crate::spec::NetworkSpec::Private => "default".to_owned(),
                crate::spec::NetworkSpec::Host => "host".to_owned(),
                crate::spec::NetworkSpec::Container(c) => format!("container:{c}"),
            },
        },
        "Config": {
            "Hostname": dir.short_id(),
            "Image": spec.image,
            "Env": spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            "Cmd": spec.cmd,
            "Entrypoint": spec.entrypoint,
            "WorkingDir": spec.workdir.clone().unwrap_or_default(),
            "User": spec.user.clone().unwrap_or_default(),
            "Tty": spec.tty,
            "OpenStdin": spec.interactive,
        },
        "NetworkSettings": { "Ports": status.ports },
    }))
}

/// `port CONTAINER [PRIVATE_PORT[/PROTO]]`: `80/tcp -> 0.0.0.0:8080`.
pub fn port(paths: &Paths, args: PortArgs) -> Result<i32> {
    let dir = StateRoot::open(paths)?.find(&args.container)?;
    let status = dir.status()?;
    let wanted = args.port.as_deref().map(|p| {
        if p.contains('/') {
            p.to_owned()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut found = false;
    for mapping in &status.ports {
        // Recorded as `host->port/proto`.
        let Some((host, inside)) = mapping.split_once("->") else {
            continue;
        };
        match &wanted {
            Some(w) if w != inside => continue,
            Some(_) => println!("{host}"),
            None => println!("{inside} -> {host}"),
        }
        found = true;
    }
    if !found && wanted.is_some() {
        return Err(CliError::new(format!(
            "Error: No public port '{}' published for {}",
            wanted.unwrap_or_default(),
            args.container
        )));
    }
    Ok(0)
}

/// `top CONTAINER`: the processes of the container's PID namespace.
pub fn top(paths: &Paths, args: TopArgs) -> Result<i32> {
    let dir = StateRoot::open(paths)?.find(&args.container)?;
    let status = dir.status()?;
    let Some(init) = status.container.filter(|p| status.is_running() && p.alive()) else {
        return Err(CliError::new(format!("Error: container {} is not running", dir.id)));
    };
    let ns = |pid: u32| std::fs::metadata(format!("/proc/{pid}/ns/pid")).ok().map(|m| m.ino());
    let target = ns(init.pid).ok_or_else(|| CliError::new("the container's PID namespace is gone"))?;
    println!("{:<10} {:<10} {:<10} CMD", "UID", "PID", "PPID");
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    for pid in pids {
        if ns(pid) != Some(target) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_owned();
        let uid = std::fs::metadata(format!("/proc/{pid}")).map_or(0, |m| m.uid());
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        println!("{uid:<10} {pid:<10} {ppid:<10} {}", cmd.trim_end());
    }
    Ok(0)
}
