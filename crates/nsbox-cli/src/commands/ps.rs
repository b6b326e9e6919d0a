//! `nsbox ps`: Docker's columns.

use crate::cli::PsArgs;
use crate::error::Result;
use crate::paths::Paths;
use crate::state::{State, StateRoot, Status};
use crate::time::{human_duration, now_unix};

pub fn ps(paths: &Paths, args: PsArgs) -> Result<i32> {
    let state = StateRoot::open(paths)?;
    let mut rows = vec![[
        "CONTAINER ID".to_owned(),
        "IMAGE".into(),
        "COMMAND".into(),
        "CREATED".into(),
        "STATUS".into(),
        "PORTS".into(),
        "NAMES".into(),
    ]];
    for dir in state.list()? {
        // A container removed meanwhile, or half made: not listed.
        let (Ok(status), Ok(spec)) = (dir.status(), dir.spec()) else {
            continue;
        };
        if !args.all && !status.is_running() {
            continue;
        }
        if args.quiet {
            println!("{}", if args.no_trunc { &dir.id } else { dir.short_id() });
            continue;
        }
        let mut command = shell_words(&status.command);
        if !args.no_trunc && command.chars().count() > 20 {
            command = format!("{}…", command.chars().take(19).collect::<String>());
        }
        rows.push([
            if args.no_trunc {
                dir.id.clone()
            } else {
                dir.short_id().to_owned()
            },
            spec.image.clone(),
            format!("\"{command}\""),
            format!("{} ago", human_duration(now_unix() - status.created)),
            status_text(&status),
            status.ports.join(", "),
            spec.name.clone().unwrap_or_default(),
        ]);
    }
    if !args.quiet {
        print_table(&rows);
    }
    Ok(0)
}

/// `Up 5 minutes`, `Exited (0) 2 seconds ago`, `Created`, `Up 1 minute (Paused)`, `Dead`.
pub fn status_text(status: &Status) -> String {
    let since = |t: Option<f64>| human_duration(now_unix() - t.unwrap_or(status.created));
    match status.state {
        State::Created => "Created".into(),
        State::Running => format!("Up {}", since(status.started)),
        State::Paused => format!("Up {} (Paused)", since(status.started)),
        State::Exited => format!(
            "Exited ({}) {} ago",
            status.exit_code.unwrap_or(0),
            since(status.finished)
        ),
        State::Dead => "Dead (its monitor is gone)".into(),
    }
}

fn shell_words(argv: &[String]) -> String {
    argv.join(" ")
}

/// Columns padded to their widest cell, three spaces apart, as Docker prints them.
pub fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < N {
                line.extend(std::iter::repeat_n(' ', widths[i] - cell.chars().count() + 3));
            }
        }
        println!("{}", line.trim_end());
    }
}
