//! A container's `ContainerBuilder` from its spec: the image (its layers as the root, its
//! config as what runs, the user's overrides as Docker applies them), then the flags.

use nsbox::{ContainerBuilder, Mount, NetnsRef, Network, Upper};
use nsbox_image::run::{ImageRun, Overrides, RunConfig};

use crate::error::{CliError, Result, bail};
use crate::spec::{NetworkSpec, RunSpec};
use crate::state::{ContainerDir, StateRoot};

/// Configures `builder` for the container `dir` of `spec`; its writable layer is `dir`'s
/// `upper/` (kept across restarts, as Docker keeps a container's).
pub fn configure(
    builder: &mut ContainerBuilder,
    spec: &RunSpec,
    dir: &ContainerDir,
    store: &nsbox_image::Store,
    state: &StateRoot,
) -> Result<RunConfig> {
    let overrides = Overrides {
        entrypoint: spec.entrypoint.clone(),
        cmd: spec.cmd.clone(),
        user: spec.user.clone(),
        working_dir: spec.workdir.clone(),
        env: spec.env.clone(),
        mounted: spec.volumes.iter().map(|v| v.target.clone()).collect(),
    };
    let run = ImageRun::new(store, &spec.image_pinned)?
        .overrides(overrides)
        .upper(Upper::Dir(dir.upper()))
        .apply(builder)?;
    builder.hostname(dir.short_id()).read_only_root(spec.read_only);
    for volume in &spec.volumes {
        let mount = Mount::bind(&volume.source, &volume.target);
        builder.mount(if volume.read_only { mount.read_only() } else { mount });
    }
    for port in &spec.ports {
        builder.publish(port.to_port());
    }
    match &spec.network {
        NetworkSpec::Private => {}
        NetworkSpec::Host => {
            if !spec.ports.is_empty() {
                bail!("published ports are discarded with --network host: leave -p out");
            }
            builder.network(Network::Host);
        }
        NetworkSpec::Container(key) => {
            let other = state.find(key)?;
            let status = other.status()?;
            let Some(process) = status.container.filter(|_| status.is_running()) else {
                bail!("cannot join the network of container {key}: it is not running");
            };
            // The namespace opened while a pidfd holds the process, then checked again: the
            // pid cannot have been reused by another process in between.
            let not_running =
                || CliError::new(format!("cannot join the network of container {key}: it is not running"));
            let _pidfd = process.pidfd().ok_or_else(not_running)?;
            let ns = std::fs::File::open(format!("/proc/{}/ns/net", process.pid)).map_err(|_| not_running())?;
            if !process.alive() {
                return Err(not_running());
            }
            builder.network(Network::Join(NetnsRef::Fd(std::sync::Arc::new(ns.into()))));
        }
    }
    if let Some(bytes) = spec.memory {
        builder.memory_limit(bytes);
    }
    if let Some(cpus) = spec.cpus {
        builder.cpu_limit(cpus);
    }
    if let Some(pids) = spec.pids_limit {
        builder.pids_limit(pids);
    }
    // `stats` and `pause` need a cgroup; an unprivileged caller may have none to make.
    if nix::unistd::geteuid().is_root() {
        builder.cgroup();
    }
    Ok(run)
}
