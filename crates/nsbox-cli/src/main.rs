//! `nsbox`: Docker's workflow (build, run, ps, logs, exec, stop, rm…) without a daemon, built
//! only on the public APIs of the `nsbox` and `nsbox-image` libraries. See docs/cli.md.

mod attach;
mod build;
mod cgroups;
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
mod streams;
mod time;

use clap::Parser;

fn main() {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                std::process::exit(0);
            }
            // One line, as Docker's: what is wrong, and where the help is.
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("nsbox: {first}. See 'nsbox --help'.");
            std::process::exit(error::USAGE);
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
