//! `nsbox`: Docker's workflow (build, run, ps, logs, exec, stop, rm…) without a daemon, built
//! only on the public APIs of the `nsbox` and `nsbox-image` libraries. See docs/cli.md.

mod attach;
mod build;
mod cli;
mod commands;
mod configure;
mod error;
mod fdpass;
mod lock;
mod monitor;
mod paths;
mod progress;
mod spec;
mod state;
mod time;

use clap::Parser;

fn main() {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => error::USAGE,
            };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nsbox: {}", e.message.trim_end());
            e.code
        }
    };
    std::process::exit(code);
}
