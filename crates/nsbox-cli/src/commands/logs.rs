//! `nsbox logs [-f] [--since] [--tail] [-t]`: a detached container's json-file logs, stdout to
//! stdout and stderr to stderr.

use std::io::Write;

use nsbox::logs::{LogReader, Stream};

use crate::cli::LogsArgs;
use crate::error::{CliError, Result};
use crate::paths::Paths;
use crate::state::StateRoot;
use crate::time::{parse_since, rfc3339};

pub fn logs(paths: &Paths, args: LogsArgs) -> Result<i32> {
    let state = StateRoot::open(paths)?;
    let dir = state.find(&args.container)?;
    if !dir.logs().is_dir() {
        // A foreground container's output went to its terminal.
        return Ok(0);
    }
    let mut reader = LogReader::open(dir.logs()).follow(args.follow);
    if let Some(since) = &args.since {
        let time = parse_since(since).ok_or_else(|| CliError::new(format!("invalid --since: {since:?}")))?;
        reader = reader.since(time);
    }
    if args.tail != "all" {
        let n = args
            .tail
            .parse::<usize>()
            .map_err(|_| CliError::new(format!("invalid --tail: {:?}", args.tail)))?;
        reader = reader.tail(n);
    }
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    for entry in reader.entries().map_err(|e| CliError::new(e.to_string()))? {
        let entry = entry.map_err(|e| CliError::new(e.to_string()))?;
        let sink: &mut dyn Write = match entry.stream {
            Stream::Stderr => &mut err,
            _ => &mut out,
        };
        let written = (|| {
            if args.timestamps {
                let t = entry
                    .time
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                write!(sink, "{} ", rfc3339(t))?;
            }
            sink.write_all(&entry.bytes)?;
            sink.flush()
        })();
        // A closed pipe (`logs -f | head`) ends the command quietly.
        if written.is_err() {
            break;
        }
    }
    Ok(0)
}
