//! `nsbox-runtime`: an OCI runtime speaking runc's command line, built on nsbox's public API
//! through `nsbox_oci`'s bundle mapping. Engines (dockerd's `--add-runtime`, containerd's
//! runc shim with `BinaryName`) run it as they run runc. docs/oci.md, "nsbox-runtime".
//!
//! Every verb's failure is one error line in the `--log` file (a json object with
//! `--log-format json`, which containerd's shim reads back) and on stderr, and exit status 1.

mod cgroup;
mod cli;
mod console;
mod error;
mod hooks;
mod log;
mod process;
mod state;
mod time;
mod verbs;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::{Result, fail};
use crate::state::Store;
use crate::verbs::create::{Request, create};

/// What every verb works with.
pub struct Ctx {
    pub store: Store,
    pub log: log::Log,
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            let args: Vec<String> = std::env::args().collect();
            let (path, format) = cli::log_flags(&args);
            let (mut log, _) = log::Log::open(path.as_deref(), &format, false);
            let text = e.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            log.line_only("error", first);
            e.exit()
        }
    };
    // Before any fd of ours exists: fds meant for the container must be the engine's, not
    // the log's or the gate's taking a free number.
    let fds_missing = preserved_fds_missing(&cli.command);
    // The log first: from here on every failure reaches it.
    let (log, log_failure) = log::Log::open(cli.global.log.as_deref(), &cli.global.log_format, cli.global.debug);
    let mut ctx = Ctx {
        store: Store {
            root: cli.global.root.clone(),
        },
        log,
    };
    let result = match log_failure.or(fds_missing) {
        Some(why) => Err(error::Error(why)),
        None => dispatch(&mut ctx, &cli),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            ctx.log.error(&e.0);
            std::process::exit(1);
        }
    }
}

/// With `--preserve-fds N`, the first of fds 3..3+N that is not open.
fn preserved_fds_missing(command: &Command) -> Option<String> {
    let count = match command {
        Command::Create(a) => a.preserve_fds,
        Command::Run(a) => a.preserve_fds,
        _ => 0,
    };
    (3..3 + count.max(0)).find_map(|fd| {
        // SAFETY: F_GETFD only reads the fd's flags.
        let open = unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0;
        (!open).then(|| format!("--preserve-fds {count}: fd {fd} is not open"))
    })
}

fn dispatch(ctx: &mut Ctx, cli: &Cli) -> Result<i32> {
    if cli.global.systemd_cgroup {
        fail!("systemd cgroup driver not supported: nsbox-runtime manages cgroupfs itself");
    }
    ctx.log.debug(&format!("{:?}", cli.command));
    match &cli.command {
        Command::Create(a) => {
            let req = Request {
                id: &a.container_id,
                bundle: &a.bundle,
                pid_file: a.pid_file.as_deref(),
                console_socket: a.console_socket.as_deref(),
                no_pivot: a.no_pivot,
                no_new_keyring: a.no_new_keyring,
                preserve_fds: a.preserve_fds,
                foreground: false,
            };
            create(ctx, &req)?;
        }
        Command::Start(a) => verbs::start::start(ctx, &a.container_id)?,
        Command::State(a) => verbs::query::state(ctx, &a.container_id)?,
        Command::Kill(a) => verbs::kill::kill(ctx, &a.container_id, &a.signal, a.all)?,
        Command::Delete(a) => verbs::delete::delete(ctx, &a.container_id, a.force)?,
        Command::Run(a) => return verbs::run::run(ctx, a),
        Command::Exec(a) => return verbs::exec::exec(ctx, a),
        Command::Pause(a) => verbs::freeze::pause(ctx, &a.container_id)?,
        Command::Resume(a) => verbs::freeze::resume(ctx, &a.container_id)?,
        Command::Ps(a) => verbs::query::ps(ctx, &a.container_id, &a.format, &a.ps_options)?,
        Command::Update(a) => verbs::update::update(ctx, a)?,
        Command::Features(_) => verbs::features::features()?,
        Command::Spec(a) => verbs::spec::spec(a.bundle.as_deref(), a.rootless)?,
        Command::List(a) => verbs::query::list(ctx, &a.format, a.quiet)?,
    }
    Ok(0)
}
