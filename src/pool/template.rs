//! The template a pool parks containers of, and what one run makes of it.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::sync::Arc;

use super::error::PoolError;
use super::run::PoolRun;
use crate::ContainerBuilder;
use crate::cgroup::Resources;
use crate::config::Config;
use crate::container::Container;
use crate::error::{ConfigError, Error, Result};
use crate::pid1::protocol::pool as wire;
use crate::setting::Setting;
use crate::stdio::Stdio;

/// The command a template without one is built with: never looked up nor executed (a pooled
/// launcher executes only what its run sends).
const PLACEHOLDER: &str = "/nsbox-pooled";

/// A parked container: set up, its launcher waiting on `socket` for its payload.
#[derive(Debug)]
pub(crate) struct Parked {
    pub container: Container,
    pub socket: OwnedFd,
}

/// The template: as the caller built it (for cold starts), and as each parked container is
/// made (stdio `/dev/null` until its run's come, the pooled launcher's syscalls allowed).
#[derive(Debug)]
pub(crate) struct Template {
    builder: ContainerBuilder,
    pub config: Config,
    warm: Config,
    has_command: bool,
}

/// One run, checked against the template: its message to the launcher and what else it needs.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub program: OsString,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub cwd: PathBuf,
    /// The paths the launcher tries, for the hint of a failed exec.
    pub candidates: Vec<std::ffi::CString>,
    /// Header and body (`protocol::pool`).
    pub message: Vec<u8>,
    /// The limits the run tightens, only those set.
    pub limits: Resources,
    pub stdio: [Stdio; 3],
}

impl Template {
    pub fn new(builder: ContainerBuilder) -> Result<Template> {
        let has_command = builder.settings.program.is_some();
        let mut placeholder = builder.clone();
        if !has_command {
            placeholder.command(PLACEHOLDER);
        }
        let config = placeholder.build()?;
        refuse_unpoolable(&config)?;
        let mut warm = config.clone();
        (warm.stdin, warm.stdout, warm.stderr) = (Some(Stdio::null()), Some(Stdio::null()), Some(Stdio::null()));
        warm.seccomp = warm.seccomp.for_pool()?;
        // Run at handout, once the payload runs.
        warm.on_spawn = Default::default();
        Ok(Template {
            builder,
            config,
            warm,
            has_command,
        })
    }

    /// Sets up one container and parks it.
    pub fn park(&self) -> Result<Parked> {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
        let (ours, theirs) = socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC)
            .map_err(|e| Error::io("create a pooled container's socket pair", e))?;
        let mut warm = self.warm.clone();
        warm.pool_gate = Some(Arc::new(theirs));
        let container = crate::spawn::spawn(&warm)?;
        // The launcher's is the only copy left: its exec closes it, which is how we learn it.
        drop(warm);
        Ok(Parked {
            container,
            socket: ours,
        })
    }

    /// Checks `run` against the template and resolves it.
    pub fn prepare(&self, run: &PoolRun) -> Result<Prepared> {
        let c = &self.config;
        let program = match &run.program {
            Some(program) => program.clone(),
            None if self.has_command => c.program.clone(),
            None => {
                return Err(ConfigError::Missing {
                    setting: Setting::Command,
                }
                .into());
            }
        };
        let args = match &run.args {
            Some(args) => args.clone(),
            None if self.has_command => c.args.clone(),
            None => Vec::new(),
        };
        crate::config::check_command(&program, &args, &run.env)?;
        let env = environment(c, run);
        let cwd = match &run.cwd {
            Some(dir) => crate::config::container_path(Setting::CurrentDir, dir)?,
            None => c.cwd.clone(),
        };
        let limits = tightened(c, run)?;
        let search = env
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map_or_else(|| OsString::from(crate::plan::DEFAULT_PATH), |(_, v)| v.clone());
        let candidates = crate::plan::exec_candidates(&program, &search)?;
        let mut body = Vec::new();
        let mut put = |bytes: &[u8]| {
            body.extend_from_slice(bytes);
            body.push(0);
        };
        put(cwd.as_os_str().as_bytes());
        candidates.iter().for_each(|p| put(p.as_bytes()));
        put(program.as_bytes());
        args.iter().for_each(|a| put(a.as_bytes()));
        for (k, v) in &env {
            let mut kv = k.clone().into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            put(&kv);
        }
        if body.len() > wire::BODY_MAX {
            return Err(PoolError::TooLarge {
                bytes: body.len(),
                max: wire::BODY_MAX,
            }
            .into());
        }
        let header = wire::encode_header(
            body.len() as u32,
            candidates.len() as u32,
            1 + args.len() as u32,
            env.len() as u32,
        );
        let mut message = header.to_vec();
        message.extend_from_slice(&body);
        let pick = |asked: &Option<Stdio>, template: &Option<Stdio>| {
            asked
                .clone()
                .or_else(|| template.clone())
                .unwrap_or_else(Stdio::inherit)
        };
        Ok(Prepared {
            program,
            args,
            env,
            cwd,
            candidates,
            message,
            limits,
            stdio: [
                pick(&run.stdin, &c.stdin),
                pick(&run.stdout, &c.stdout),
                pick(&run.stderr, &c.stderr),
            ],
        })
    }

    /// A cold start of `prepared`: the template's builder with the run's settings.
    pub fn cold(&self, prepared: Prepared) -> Result<Container> {
        let mut builder = self.builder.clone();
        let s = &mut builder.settings;
        s.program = Some(prepared.program);
        s.args = prepared.args;
        s.env_clear = true;
        s.env = prepared.env.into_iter().map(|(k, v)| (k, Some(v))).collect();
        s.cwd = prepared.cwd;
        let [stdin, stdout, stderr] = prepared.stdio;
        (s.stdin, s.stdout, s.stderr) = (Some(stdin), Some(stdout), Some(stderr));
        let r = prepared.limits;
        s.resources.memory = r.memory.or(s.resources.memory);
        s.resources.pids = r.pids.or(s.resources.pids);
        s.resources.cpus = r.cpus.or(s.resources.cpus);
        builder.spawn()
    }
}

/// What a parked container cannot have: its stdio is chosen per run, after setup.
fn refuse_unpoolable(c: &Config) -> Result<()> {
    let refuse = |method, why| Err(PoolError::Template { method, why }.into());
    if c.tty.is_some() {
        return refuse(
            "tty",
            "the terminal is the payload's stdio, made at setup; pooled stdio is per run",
        );
    }
    if c.logs.is_some() {
        return refuse(
            "logs",
            "the log writer reads stdio made at setup; pooled stdio is per run",
        );
    }
    if c.detach {
        return refuse(
            "detach",
            "a pool kills every container it still holds when it is dropped",
        );
    }
    if c.start.gate.is_some() {
        return refuse("start_gate", "a pooled container already waits at the pool's own gate");
    }
    if !c.net_devices.is_empty() {
        return refuse(
            "move_network_device",
            "a device can be in one container only; each parked container would take it",
        );
    }
    Ok(())
}

/// The payload's environment: the caller's (unless cleared by the template or the run), the
/// template's changes, the run's.
fn environment(c: &Config, run: &PoolRun) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = match c.env_clear || run.env_clear {
        true => Vec::new(),
        false => std::env::vars_os().collect(),
    };
    let template = (!run.env_clear).then_some(&c.env).into_iter().flatten();
    for (key, value) in template.chain(&run.env) {
        env.retain(|(k, _)| k != key);
        if let Some(value) = value {
            env.push((key.clone(), value.clone()));
        }
    }
    env
}

/// The limits a run sets, each within the template's; checked as `build()` checks them.
fn tightened(c: &Config, run: &PoolRun) -> Result<Resources> {
    let t = &c.resources;
    within(Setting::MemoryLimit, run.memory, t.memory)?;
    within(Setting::PidsLimit, run.pids, t.pids)?;
    within(Setting::CpuLimit, run.cpus, t.cpus)?;
    let limits = Resources {
        memory: run.memory,
        // On cgroup v1 the swap limit is written as memory + swap, and only with the memory
        // limit: a tightened memory limit alone would leave the template's sum, letting the
        // payload swap what it may no longer keep in memory.
        swap: run.memory.and(t.swap),
        pids: run.pids,
        cpus: run.cpus,
        ..Resources::default()
    };
    limits.validate(0)?;
    Ok(limits)
}

/// `asked`, if any, is at most the template's limit, which must be set.
fn within<T: PartialOrd + ToString>(setting: Setting, asked: Option<T>, template: Option<T>) -> Result<()> {
    match (asked, template) {
        (Some(asked), Some(template)) if asked <= template => Ok(()),
        (Some(asked), template) => Err(PoolError::LimitNotTighter {
            setting,
            template: template.map(|t| t.to_string()),
            asked: asked.to_string(),
        }
        .into()),
        (None, _) => Ok(()),
    }
}
