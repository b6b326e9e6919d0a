//! The command line, Docker's words and flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run containers without a daemon.
#[derive(Debug, Parser)]
#[command(name = "nsbox", version, about = "Run containers without a daemon", long_about = None)]
#[command(disable_help_subcommand = true)]
pub struct Cli {
    /// Where containers' state lives (default: /run/nsbox as root, $XDG_RUNTIME_DIR/nsbox otherwise)
    #[arg(long, global = true, env = "NSBOX_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The image store (default: /var/lib/nsbox as root, $XDG_DATA_HOME/nsbox otherwise)
    #[arg(long, global = true, env = "NSBOX_STORE", value_name = "DIR")]
    pub store: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Return low-level information on containers
    Inspect(ContainersArgs),
    /// Pause all processes within one or more containers
    Pause(ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(ContainersArgs),
    /// List port mappings of a container
    Port(PortArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// List images
    Images(ImagesArgs),
    /// Load an image from a tar archive (`docker save`)
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Copy an image in: `oci:DIR[:TAG]` (an OCI layout directory)
    Pull(PullArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Manage builds
    #[command(subcommand)]
    Builder(BuilderCommand),
    /// Display what this host lets nsbox do, and what to do about what is missing
    Info,
    /// Print a shell completion script
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The per-container monitor (started by `run` and `start`)
    #[command(name = "__monitor", hide = true)]
    Monitor {
        id: String,
        #[arg(long)]
        report_fd: i32,
        #[arg(long)]
        foreground: bool,
        /// Started by `run`: a configuration refused now leaves no container.
        #[arg(long)]
        first: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Remove unused images' data (layers and blobs no image uses)
    Prune,
    /// List images
    Ls(ImagesArgs),
    /// Remove one or more images
    Rm(RmiArgs),
}

#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Remove the build cache (the step images of earlier builds) and the data only it used
    Prune,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Publish a container's port(s) to the host ([ip:][hostPort:]containerPort[/udp])
    #[arg(short, long = "publish", value_name = "LIST")]
    pub publish: Vec<String>,
    /// Bind mount a volume (/host/path:/container/path[:ro])
    #[arg(short, long = "volume", value_name = "LIST")]
    pub volume: Vec<String>,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "LIST")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Memory limit (e.g. 256m)
    #[arg(short, long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long, value_name = "DECIMAL")]
    pub cpus: Option<f64>,
    /// Tune container pids limit (-1 for unlimited)
    #[arg(long, value_name = "INT", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Mount the container's root filesystem as read only
    #[arg(long)]
    pub read_only: bool,
    /// Connect a container to a network (none, host, container:NAME)
    #[arg(long, alias = "net", value_name = "NETWORK")]
    pub network: Option<String>,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long, value_name = "STRING")]
    pub entrypoint: Option<String>,
    /// The image to run
    pub image: String,
    /// The command and its arguments (replaces the image's CMD)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container
    #[arg(short, long, default_value_t = 10)]
    pub time: u64,
    /// Signal to send to the container (default: the image's STOPSIGNAL, else SIGTERM)
    #[arg(short, long)]
    pub signal: Option<String>,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Show logs since timestamp (e.g. 2026-12-05T10:00:00Z) or relative (e.g. 42m)
    #[arg(long)]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs ("all" for every line)
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "LIST")]
    pub env: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,
    pub container: String,
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ContainersArgs {
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file
    #[arg(short, long, value_name = "FILE", required = true)]
    pub input: PathBuf,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The rootfs tarball (`docker export`, or a tarball of a directory)
    pub file: PathBuf,
    /// REPOSITORY[:TAG]
    pub reference: String,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// oci:DIR[:TAG]
    pub source: String,
    /// Store it under this name (default: the layout's name and TAG)
    pub reference: Option<String>,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove the image even if a container uses it
    #[arg(short, long)]
    pub force: bool,
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the 'name:tag' format
    #[arg(short, long, value_name = "NAME[:TAG]")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: CONTEXT/Dockerfile)
    #[arg(short, long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Set build-time variables
    #[arg(long, value_name = "LIST")]
    pub build_arg: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Suppress the build output
    #[arg(short, long)]
    pub quiet: bool,
    /// The build context directory
    pub context: PathBuf,
}
