//! runc's command line: youki's `liboci-cli` clap definitions of each verb, with runc's global
//! flags and runc's `kill` (whose signal defaults to SIGTERM; liboci-cli requires it).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Where container state lives unless `--root` says otherwise.
pub const DEFAULT_ROOT: &str = "/run/nsbox-runtime";

/// nsbox-runtime: an OCI runtime with runc's command line, on nsbox.
#[derive(Parser, Debug)]
#[command(name = "nsbox-runtime", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// runc's global flags.
#[derive(Args, Debug)]
pub struct Global {
    /// Root directory for the state of containers
    #[arg(long, default_value = DEFAULT_ROOT, global = true)]
    pub root: PathBuf,
    /// Log file (default: stderr only)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format: text or json
    #[arg(long, default_value = "text", global = true)]
    pub log_format: String,
    /// Log debug lines too
    #[arg(long, global = true)]
    pub debug: bool,
    /// Use systemd's cgroup driver (refused: not supported)
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// runc's rootless mode: `auto` (the default), `true` or `false`; nsbox decides by itself
    #[arg(long)]
    pub rootless: Option<String>,
}

/// The verbs.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container, parked before its command until `start`
    Create(liboci_cli::Create),
    /// Start a created container
    Start(liboci_cli::Start),
    /// Print a container's state as JSON
    State(liboci_cli::State),
    /// Send a signal to a container's process (or every process, with --all)
    Kill(Kill),
    /// Delete a container: its cgroup and state
    Delete(liboci_cli::Delete),
    /// Create and start a container, and wait for it unless --detach
    Run(liboci_cli::Run),
    /// Run a process in a running container
    Exec(liboci_cli::Exec),
    /// Freeze every process of a container
    Pause(liboci_cli::Pause),
    /// Thaw a paused container
    Resume(liboci_cli::Resume),
    /// List a container's processes
    Ps(liboci_cli::Ps),
    /// Change a running container's resource limits
    Update(liboci_cli::Update),
    /// Print what this runtime supports, as the runtime spec's features JSON
    Features(liboci_cli::Features),
    /// Write a default config.json
    Spec(liboci_cli::Spec),
    /// List the containers under --root
    List(liboci_cli::List),
}

/// runc's `kill`: `kill [--all] ID [SIGNAL]`.
#[derive(Args, Debug)]
pub struct Kill {
    /// Send the signal to every process of the container's cgroup
    #[arg(short, long)]
    pub all: bool,
    /// Container identifier
    pub container_id: String,
    /// Signal, by name (TERM, SIGTERM) or number
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

/// `--log` and `--log-format` picked out of a command line clap refused, so that even a usage
/// error reaches the log.
pub fn log_flags(args: &[String]) -> (Option<PathBuf>, String) {
    let (mut log, mut format) = (None, "text".to_string());
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--log" => log = it.next().map(PathBuf::from),
            "--log-format" => format = it.next().cloned().unwrap_or(format),
            a => {
                if let Some(v) = a.strip_prefix("--log=") {
                    log = Some(v.into());
                } else if let Some(v) = a.strip_prefix("--log-format=") {
                    format = v.into();
                }
            }
        }
    }
    (log, format)
}
