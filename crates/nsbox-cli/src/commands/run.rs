//! `nsbox run`: a container of an image, in the foreground (its stdio are the command's, its
//! exit code the command's) or detached (`-d`: the id printed, the monitor holds it).

use crate::cli::RunArgs;
use crate::error::{Result, bail};
use crate::monitor::launch::{self, Launched};
use crate::paths::Paths;
use crate::spec::{self, RunSpec};
use crate::state::{StateRoot, validate_name};
use crate::streams::Streams;

pub fn run(paths: &Paths, args: RunArgs) -> Result<i32> {
    let spec = spec_of(paths, &args)?;
    let state = StateRoot::open(paths)?;
    let dir = state.create(&spec)?;
    let launched = launch::launch(paths, &dir, !spec.detach, spec.interactive, true);
    let mut launched = match launched {
        Ok(launched) => launched,
        Err(e) => {
            // Docker keeps a container whose start failed (`ps -a` shows it), except with --rm;
            // the monitor already removed an --rm one.
            return Err(e);
        }
    };
    if spec.detach {
        println!("{}", dir.id);
        return Ok(0);
    }
    Ok(attach(&dir, &mut launched, spec.tty, spec.interactive))
}

/// Follows a foreground container to its end: its terminal pumped (`-t`), signals forwarded.
pub fn attach(dir: &crate::state::ContainerDir, launched: &mut Launched, tty: bool, interactive: bool) -> i32 {
    let _signals = crate::attach::forward_signals(dir.clone(), tty);
    let fds = std::mem::take(&mut launched.fds);
    let relays = match launched.streams {
        Streams::Pty => {
            if let Some(pty) = fds.into_iter().next() {
                crate::attach::pump_terminal(pty, interactive);
            }
            Vec::new()
        }
        Streams::Pipes { stdin } => crate::streams::relay_pipes(stdin, fds),
        Streams::None => Vec::new(),
    };
    let code = launch::wait_exit(launched);
    crate::streams::finish(relays, std::time::Duration::from_secs(2));
    code
}

/// The spec of `run`'s flags, checked (a bad flag is an error before anything is made).
fn spec_of(paths: &Paths, args: &RunArgs) -> Result<RunSpec> {
    if let Some(name) = &args.name {
        validate_name(name)?;
    }
    if args.detach && args.tty {
        bail!("-t with -d is not supported: a detached container's output goes to its logs");
    }
    let mut env = Vec::new();
    for file in &args.env_file {
        env.extend(spec::read_env_file(file)?);
    }
    for e in &args.env {
        env.extend(spec::parse_env(e)?);
    }
    let pids_limit = match args.pids_limit {
        Some(n) if n > 0 => Some(n as u64),
        _ => None,
    };
    let ports = args
        .publish
        .iter()
        .map(|p| spec::parse_port(p))
        .collect::<Result<Vec<_>>>()?;
    let volumes = args
        .volume
        .iter()
        .map(|v| spec::parse_volume(v))
        .collect::<Result<Vec<_>>>()?;
    let memory = args.memory.as_deref().map(spec::parse_bytes).transpose()?;
    let network = args
        .network
        .as_deref()
        .map(spec::parse_network)
        .transpose()?
        .unwrap_or_default();
    if let Some(c) = args.cpus
        && !(c > 0.0 && c.is_finite())
    {
        bail!("invalid --cpus {c}: a positive number");
    }
    let store = paths.open_store()?;
    let image = match store.inspect(&args.image) {
        Ok(image) => image,
        Err(nsbox_image::Error::ImageNotFound { .. }) => {
            bail!(
                "Unable to find image '{}' locally (load, import, pull or build it first)",
                args.image
            )
        }
        Err(e) => return Err(e.into()),
    };
    let name = args.image.split('@').next().unwrap_or(&args.image);
    let name = match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    };
    // Docker makes a missing bind source a directory.
    for volume in &volumes {
        if !volume.source.exists() {
            std::fs::create_dir_all(&volume.source)
                .map_err(|e| crate::error::CliError::new(format!("creating {}: {e}", volume.source.display())))?;
        }
    }
    Ok(RunSpec {
        image: args.image.clone(),
        image_pinned: format!("{name}@{}", image.manifest_digest()),
        name: args.name.clone(),
        entrypoint: args.entrypoint.as_ref().map(|e| match e.as_str() {
            "" => vec![],
            e => vec![e.to_owned()],
        }),
        cmd: (!args.command.is_empty()).then(|| args.command.clone()),
        env,
        ports,
        volumes,
        workdir: args.workdir.clone(),
        user: args.user.clone(),
        memory,
        cpus: args.cpus,
        pids_limit,
        read_only: args.read_only,
        network,
        tty: args.tty,
        interactive: args.interactive,
        rm: args.rm,
        detach: args.detach,
    })
}
