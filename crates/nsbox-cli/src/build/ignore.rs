//! `.dockerignore`: which files of the context a build sees, by Docker's rules
//! (<https://docs.docker.com/build/concepts/context/#dockerignore-files>, moby's
//! `patternmatcher`):
//!
//! - one pattern per line; `#` lines and empty lines are skipped; surrounding whitespace is
//!   trimmed; a leading `/` is dropped and the pattern cleaned (`a//b/./c` is `a/b/c`);
//! - `*` and `?` match within one path component, `[a-z]`/`[^a]` a set, `\` escapes;
//!   a `**` component matches any number of components (none included);
//! - a pattern that matches a directory excludes everything below it;
//! - `!pattern` re-includes what an earlier pattern excluded; the last matching line wins.

/// The patterns of a `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    components: Vec<String>,
    exception: bool,
}

impl Ignore {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Ignore {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let components = clean(pattern);
            if components.is_empty() {
                continue;
            }
            rules.push(Rule { components, exception });
        }
        Ignore { rules }
    }

    /// Whether the context path `path` (relative, `/`-separated) is left out of the build.
    pub fn excludes(&self, path: &str) -> bool {
        let path: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
        let mut excluded = false;
        for rule in &self.rules {
            // The path or one of its parent directories.
            if (1..=path.len()).any(|n| matches_components(&rule.components, &path[..n])) {
                excluded = !rule.exception;
            }
        }
        excluded
    }

    /// Whether an exception (`!pattern`) could re-include something below an excluded
    /// directory (then a walk must look inside it).
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(|r| r.exception)
    }
}

/// A pattern's components, cleaned like Go's `filepath.Clean` (`..` at the start dropped).
fn clean(pattern: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in pattern.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c.to_owned()),
        }
    }
    out
}

/// Whether the pattern components match the path components exactly (`**` spans any number).
pub fn matches_components(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => (0..=path.len()).any(|skip| matches_components(rest, &path[skip..])),
        Some((first, rest)) => match path.split_first() {
            Some((name, path_rest)) => glob(first, name) && matches_components(rest, path_rest),
            None => false,
        },
    }
}

/// `pattern` against one component: `*`, `?`, `[set]`, `[^set]`, `\x` (Go's `filepath.Match`).
pub fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_at(&p, &n)
}

fn glob_at(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|skip| glob_at(&p[1..], &n[skip..])),
        Some('?') => !n.is_empty() && glob_at(&p[1..], &n[1..]),
        Some('[') => {
            let Some(&c) = n.first() else { return false };
            match set(&p[1..], c) {
                Some((hit, used)) => hit && glob_at(&p[1 + used..], &n[1..]),
                // An unterminated set matches a literal '['.
                None => c == '[' && glob_at(&p[1..], &n[1..]),
            }
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && glob_at(&p[2..], &n[1..]),
        Some(&c) => n.first() == Some(&c) && glob_at(&p[1..], &n[1..]),
    }
}

/// A `[...]` set (after the `[`) against `c`: whether it matches, and the characters the set
/// used (through the `]`).
fn set(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negated = matches!(p.first(), Some('^') | Some('!'));
    if negated {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((hit != negated, i + 1));
        }
        first = false;
        let lo = if p[i] == '\\' && i + 1 < p.len() {
            i += 1;
            p[i]
        } else {
            p[i]
        };
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            let hi = p[i + 2];
            hit |= lo <= c && c <= hi;
            i += 3;
        } else {
            hit |= lo == c;
            i += 1;
        }
    }
    None
}

/// Whether `text` holds glob characters (a COPY source with wildcards).
pub fn has_wildcards(text: &str) -> bool {
    text.contains(['*', '?', '['])
}
