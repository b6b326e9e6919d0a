//! `state`, `list` and `ps`: what the runtime knows of its containers, in runc's shapes.

use std::io::Write;

use crate::Ctx;
use crate::error::{Context, Result, fail};
use crate::state::{Status, owner_name, runc_state};

pub fn state(ctx: &mut Ctx, id: &str) -> Result<()> {
    let state = ctx.store.load(id)?;
    print_json(&runc_state(&state, ctx.store.status(&state)))
}

pub fn list(ctx: &mut Ctx, format: &str, quiet: bool) -> Result<()> {
    let mut rows = Vec::new();
    for id in ctx.store.ids()? {
        // Containers half made by a running `create` have no state yet: skipped, as runc.
        let Ok(state) = ctx.store.load(&id) else { continue };
        let status = ctx.store.status(&state);
        rows.push((state, status));
    }
    if quiet {
        for (state, _) in &rows {
            println!("{}", state.id);
        }
        return Ok(());
    }
    match format {
        "json" => {
            let list: Vec<_> = rows
                .iter()
                .map(|(s, status)| crate::state::RuncState {
                    owner: owner_name(s.owner_uid),
                    ..runc_state(s, *status)
                })
                .collect();
            // runc prints `null` for no containers (a nil Go slice).
            let json = match list.is_empty() {
                true => "null".to_string(),
                false => serde_json::to_string(&list).context("json")?,
            };
            println!("{json}");
            Ok(())
        }
        "table" => {
            let mut table = vec![
                ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                    .map(String::from)
                    .to_vec(),
            ];
            for (s, status) in &rows {
                let pid = if *status == Status::Stopped { 0 } else { s.pid };
                table.push(vec![
                    s.id.clone(),
                    pid.to_string(),
                    status.as_str().into(),
                    s.bundle.display().to_string(),
                    s.created.clone(),
                    owner_name(s.owner_uid),
                ]);
            }
            print_table(&table);
            Ok(())
        }
        other => fail!("invalid format option {other:?}: table or json"),
    }
}

pub fn ps(ctx: &mut Ctx, id: &str, format: &str, ps_options: &[String]) -> Result<()> {
    let state = ctx.store.load(id)?;
    let mut pids: Vec<u32> = crate::cgroup::open(&state.cgroup_path)?
        .pids()
        .into_iter()
        .map(|p| p as u32)
        .collect();
    pids.sort_unstable();
    match format {
        "json" => {
            println!("{}", serde_json::Value::from(pids));
            Ok(())
        }
        "table" => {
            // runc runs ps(1) with the options (default -ef) and keeps the container's lines.
            let options: Vec<&str> = if ps_options.is_empty() {
                vec!["-ef"]
            } else {
                ps_options.iter().map(String::as_str).collect()
            };
            let out = std::process::Command::new("ps")
                .args(&options)
                .output()
                .context("cannot run ps")?;
            if !out.status.success() {
                fail!(
                    "ps {}: {}",
                    options.join(" "),
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let Some(header) = lines.next() else { return Ok(()) };
            let Some(column) = header.split_whitespace().position(|h| h == "PID") else {
                fail!("couldn't find PID field in ps output");
            };
            println!("{header}");
            for line in lines {
                let pid = line.split_whitespace().nth(column).and_then(|p| p.parse::<u32>().ok());
                if pid.is_some_and(|p| pids.contains(&p)) {
                    println!("{line}");
                }
            }
            Ok(())
        }
        other => fail!("invalid format option {other:?}: table or json"),
    }
}

/// Pretty JSON with two-space indents, as runc's `state` prints it.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).context("json")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").context("stdout")
}

/// Columns padded as Go's tabwriter (min width 12, padding 1) pads runc's table.
fn print_table(rows: &[Vec<String>]) {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0).max(11) + 1)
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == columns {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        println!("{line}");
    }
}
