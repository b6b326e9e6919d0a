//! One module per group of commands; each returns the exit code.

mod exec;
mod images;
mod info;
mod inspect;
mod lifecycle;
mod logs;
mod ps;
mod run;
mod stats;

use crate::cli::{BuilderCommand, Cli, Command, ImageCommand};
use crate::error::Result;
use crate::paths::Paths;

pub fn dispatch(cli: Cli) -> Result<i32> {
    let paths = Paths::resolve(cli.state_dir, cli.store)?;
    match cli.command {
        Command::Run(args) => run::run(&paths, args),
        Command::Start(args) => lifecycle::start(&paths, args),
        Command::Stop(args) => lifecycle::stop(&paths, args, false),
        Command::Restart(args) => lifecycle::stop(&paths, args, true),
        Command::Kill(args) => lifecycle::kill(&paths, args),
        Command::Rm(args) => lifecycle::rm(&paths, args),
        Command::Pause(args) => lifecycle::pause(&paths, args, true),
        Command::Unpause(args) => lifecycle::pause(&paths, args, false),
        Command::Ps(args) => ps::ps(&paths, args),
        Command::Logs(args) => logs::logs(&paths, args),
        Command::Exec(args) => exec::exec(&paths, args),
        Command::Stats(args) => stats::stats(&paths, args),
        Command::Inspect(args) => inspect::inspect(&paths, args),
        Command::Port(args) => inspect::port(&paths, args),
        Command::Top(args) => inspect::top(&paths, args),
        Command::Images(args) | Command::Image(ImageCommand::Ls(args)) => images::list(&paths, args),
        Command::Load(args) => images::load(&paths, args),
        Command::Import(args) => images::import(&paths, args),
        Command::Pull(args) => images::pull(&paths, args),
        Command::Rmi(args) | Command::Image(ImageCommand::Rm(args)) => images::rmi(&paths, args),
        Command::Image(ImageCommand::Prune) => images::prune(&paths),
        Command::Build(args) => crate::build::build(&paths, args),
        Command::Builder(BuilderCommand::Prune) => crate::build::prune(&paths),
        Command::Info => info::info(&paths),
        Command::Completion { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "nsbox", &mut std::io::stdout());
            Ok(0)
        }
        Command::Monitor {
            id,
            report_fd,
            foreground,
            first,
        } => {
            use std::os::fd::FromRawFd;
            // SAFETY: the command that started us handed this fd over (its number in our args).
            let report = unsafe { std::os::fd::OwnedFd::from_raw_fd(report_fd) };
            // Never passed on: the container must not hold the command's socket.
            nix::fcntl::fcntl(&report, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC))
                .map_err(|e| crate::error::CliError::new(format!("report fd: {e}")))?;
            Ok(crate::monitor::main(&paths, &id, report, foreground, first))
        }
    }
}
