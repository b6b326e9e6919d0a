//! The Dockerfile syntax: parser directives (`# escape=`), comments, line continuations, one
//! instruction per logical line with its `--flags`, and its arguments in exec form (a JSON
//! array) or shell form (the text). See
//! <https://docs.docker.com/reference/dockerfile/#format>.
//!
//! Only the syntax lives here; what each instruction means is the executor's
//! (`build/step.rs`), and which instructions and flags are accepted is checked by
//! [`check`] before anything runs.

use crate::error::{CliError, Result};

/// One instruction, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The line it starts on (1-based).
    pub line: usize,
    /// The keyword, upper case (`RUN`).
    pub keyword: String,
    /// Leading `--name=value` flags (`--chown=1:1`), in order; a bare `--name` has value "".
    pub flags: Vec<(String, String)>,
    pub args: Args,
}

/// An instruction's arguments after its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// `["executable", "arg"]`: a JSON array of strings.
    Exec(Vec<String>),
    /// Anything else: the text, continuations joined, surrounding whitespace trimmed.
    Shell(String),
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (`\`, or `` ` `` with `# escape=`` ` ``).
    pub escape: char,
    pub instructions: Vec<Instruction>,
}

/// Instructions whose arguments may be a JSON array.
const JSON_FORM: &[&str] = &["RUN", "CMD", "ENTRYPOINT", "COPY", "ADD", "VOLUME", "SHELL"];

/// Instructions whose leading `--flags` are parsed as flags (elsewhere `--x` is an argument).
const WITH_FLAGS: &[&str] = &["FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"];

impl Instruction {
    /// `Dockerfile:LINE` for messages.
    pub fn location(&self) -> String {
        format!("Dockerfile:{}", self.line)
    }

    /// The instruction as one line (`RUN apt-get install -y nginx`), for output and history.
    pub fn display(&self) -> String {
        let mut text = self.keyword.clone();
        for (name, value) in &self.flags {
            text.push_str(&format!(" --{name}={value}"));
        }
        match &self.args {
            Args::Exec(words) => text.push_str(&format!(" {}", serde_json::to_string(words).unwrap_or_default())),
            Args::Shell(s) if !s.is_empty() => text.push_str(&format!(" {s}")),
            Args::Shell(_) => {}
        }
        text
    }

    /// The value of flag `name`, if given.
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Parses `text` (the Dockerfile's content).
pub fn parse(text: &str) -> Result<Dockerfile> {
    let lines: Vec<&str> = text.lines().collect();
    let (escape, first) = directives(&lines)?;
    let mut instructions = Vec::new();
    let mut i = first;
    while i < lines.len() {
        let start = i;
        let line = lines[i].trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Join continuations: a line ending in the escape character goes on; comment lines
        // and empty lines inside are dropped, as Docker does.
        let mut logical = String::new();
        let mut current = line.to_owned();
        loop {
            let trimmed = current.trim_end();
            match trimmed.strip_suffix(escape) {
                Some(head) => {
                    logical.push_str(head);
                    let mut next = None;
                    while i < lines.len() {
                        let l = lines[i];
                        i += 1;
                        let t = l.trim();
                        if t.is_empty() || t.starts_with('#') {
                            continue;
                        }
                        next = Some(l.to_owned());
                        break;
                    }
                    match next {
                        Some(l) => current = l,
                        None => break,
                    }
                }
                None => {
                    logical.push_str(trimmed);
                    break;
                }
            }
        }
        instructions.push(instruction(start + 1, logical.trim())?);
    }
    Ok(Dockerfile { escape, instructions })
}

/// The parser directives at the top (`# escape=` and `# syntax=`): the escape character and
/// the first line after them. Directives end at the first line that is not one.
fn directives(lines: &[&str]) -> Result<(char, usize)> {
    let mut escape = '\\';
    let mut seen = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let Some(body) = line.trim().strip_prefix('#') else {
            return Ok((escape, n));
        };
        let Some((name, value)) = body.split_once('=') else {
            return Ok((escape, n));
        };
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Ok((escape, n));
        }
        if seen.contains(&name) {
            return Err(CliError::new(format!(
                "Dockerfile:{}: only one {name} parser directive can be used",
                n + 1
            )));
        }
        match name.as_str() {
            "escape" => {
                escape = match value.trim() {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(CliError::new(format!(
                            "Dockerfile:{}: invalid escape token {other:?}: \\ or `",
                            n + 1
                        )));
                    }
                }
            }
            // `syntax` picks a BuildKit frontend: there is one here. Others are comments.
            "syntax" | "check" => {}
            _ => return Ok((escape, n)),
        }
        seen.push(name);
    }
    Ok((escape, lines.len()))
}

fn instruction(line: usize, text: &str) -> Result<Instruction> {
    let (keyword, mut rest) = match text.split_once(char::is_whitespace) {
        Some((k, r)) => (k, r.trim_start()),
        None => (text, ""),
    };
    let keyword = keyword.to_ascii_uppercase();
    let mut flags = Vec::new();
    if WITH_FLAGS.contains(&keyword.as_str()) {
        while let Some(after) = rest.strip_prefix("--") {
            let (word, tail) = after.split_once(char::is_whitespace).unwrap_or((after, ""));
            let (name, value) = word.split_once('=').unwrap_or((word, ""));
            if name.is_empty() {
                break;
            }
            flags.push((name.to_ascii_lowercase(), value.to_owned()));
            rest = tail.trim_start();
        }
    }
    let args = match JSON_FORM.contains(&keyword.as_str()) && rest.starts_with('[') {
        true => match serde_json::from_str::<Vec<String>>(rest) {
            Ok(words) => Args::Exec(words),
            // Not a JSON array of strings: Docker takes it as shell form.
            Err(_) => Args::Shell(rest.to_owned()),
        },
        false => Args::Shell(rest.to_owned()),
    };
    Ok(Instruction {
        line,
        keyword,
        flags,
        args,
    })
}

/// The flags each supported instruction takes.
fn allowed_flags(keyword: &str) -> Option<&'static [&'static str]> {
    Some(match keyword {
        "FROM" => &[],
        "RUN" => &["network"],
        "COPY" => &["chown", "chmod"],
        "ADD" => &["chown", "chmod"],
        "ENV" | "ARG" | "WORKDIR" | "USER" | "EXPOSE" | "VOLUME" | "LABEL" | "ENTRYPOINT" | "CMD" | "STOPSIGNAL"
        | "SHELL" | "MAINTAINER" => &[],
        _ => return None,
    })
}

/// Refuses, before anything runs, what this builder does not do: an unknown or unsupported
/// instruction, an unknown flag, multi-stage builds, a Dockerfile without FROM.
pub fn check(dockerfile: &Dockerfile) -> Result<()> {
    let refuse = |i: &Instruction, what: String| Err(CliError::new(format!("{}: {what}", i.location())));
    let mut from_seen = false;
    for i in &dockerfile.instructions {
        let Some(flags) = allowed_flags(&i.keyword) else {
            return match i.keyword.as_str() {
                "ONBUILD" | "HEALTHCHECK" => refuse(i, format!("{} is not supported by nsbox build", i.keyword)),
                other => refuse(i, format!("unknown instruction: {other}")),
            };
        };
        for (name, value) in &i.flags {
            if name == "from" && (i.keyword == "COPY" || i.keyword == "ADD") {
                return refuse(
                    i,
                    format!("{} --from is not supported (multi-stage builds are not)", i.keyword),
                );
            }
            if !flags.contains(&name.as_str()) {
                return refuse(i, format!("{} does not support the flag --{name}", i.keyword));
            }
            if name == "network" && value != "host" && value != "default" {
                return refuse(i, format!("RUN --network={value}: only host (the default here)"));
            }
        }
        match i.keyword.as_str() {
            "FROM" => {
                if from_seen {
                    return refuse(i, "a second FROM: multi-stage builds are not supported".into());
                }
                from_seen = true;
                let Args::Shell(text) = &i.args else {
                    unreachable!("FROM has no JSON form")
                };
                let words: Vec<&str> = text.split_whitespace().collect();
                match words[..] {
                    [_] => {}
                    [_, as_, _] if as_.eq_ignore_ascii_case("as") => {
                        return refuse(i, "FROM … AS: multi-stage builds are not supported".into());
                    }
                    _ => return refuse(i, "FROM takes one image".into()),
                }
            }
            "ARG" => {}
            _ if !from_seen => return refuse(i, format!("{} before FROM (only ARG may come first)", i.keyword)),
            _ => {}
        }
    }
    if !from_seen {
        return Err(CliError::new("the Dockerfile has no FROM instruction"));
    }
    Ok(())
}
