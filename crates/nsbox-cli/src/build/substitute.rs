//! Variable substitution and word splitting, as Docker's `shell_lex` does them for the
//! instructions that expand variables (FROM, COPY, ADD, ENV, ARG, LABEL, EXPOSE, USER,
//! WORKDIR, VOLUME, STOPSIGNAL): `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:+alternative}`, `${VAR+alternative}`, `${VAR:?message}`, `${VAR?message}`; single
//! quotes keep their text literal, double quotes still expand, the escape character makes the
//! next character literal (`\$HOME` is `$HOME`). An unset variable expands to nothing.
//!
//! RUN, CMD and ENTRYPOINT are not expanded here: their shell does it, with the build's
//! environment.

use std::iter::Peekable;
use std::str::Chars;

/// Looks a variable up: `None` when unset.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Why a word could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubstituteError(pub String);

impl std::fmt::Display for SubstituteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `text` as one word: quotes removed, variables expanded, whitespace kept.
pub fn expand(text: &str, escape: char, vars: Lookup<'_>) -> Result<String, SubstituteError> {
    let mut lexer = Lexer {
        chars: text.chars().peekable(),
        escape,
        vars,
    };
    let mut words = lexer.scan(false, false)?;
    Ok(words.pop().unwrap_or_default())
}

/// `text` split into words at unquoted whitespace, each expanded (empty words, from an unset
/// variable alone, are dropped as the shell drops them; `""` stays an empty word).
pub fn words(text: &str, escape: char, vars: Lookup<'_>) -> Result<Vec<String>, SubstituteError> {
    let mut lexer = Lexer {
        chars: text.chars().peekable(),
        escape,
        vars,
    };
    lexer.scan(true, false)
}

struct Lexer<'t, 'v> {
    chars: Peekable<Chars<'t>>,
    escape: char,
    vars: Lookup<'v>,
}

impl Lexer<'_, '_> {
    /// Scans words until the end (or, `in_brace`, the `}` closing a `${…}`, consumed).
    fn scan(&mut self, split: bool, in_brace: bool) -> Result<Vec<String>, SubstituteError> {
        let mut words = Vec::new();
        let mut word = String::new();
        // Whether the word holds something, even empty quotes.
        let mut started = false;
        loop {
            let Some(c) = self.chars.next() else {
                if in_brace {
                    return Err(SubstituteError("missing '}' in a ${…} substitution".into()));
                }
                break;
            };
            match c {
                '}' if in_brace => break,
                c if split && c.is_whitespace() => {
                    if started {
                        words.push(std::mem::take(&mut word));
                        started = false;
                    }
                }
                '\'' => {
                    started = true;
                    loop {
                        match self.chars.next() {
                            Some('\'') => break,
                            Some(c) => word.push(c),
                            None => return Err(SubstituteError("unterminated single quote".into())),
                        }
                    }
                }
                '"' => {
                    started = true;
                    loop {
                        match self.chars.next() {
                            Some('"') => break,
                            Some('$') => word.push_str(&self.variable()?),
                            Some(c) if c == self.escape => match self.chars.peek().copied() {
                                Some(n) if n == '"' || n == '$' || n == self.escape => {
                                    word.push(n);
                                    self.chars.next();
                                }
                                _ => word.push(c),
                            },
                            Some(c) => word.push(c),
                            None => return Err(SubstituteError("unterminated double quote".into())),
                        }
                    }
                }
                '$' => {
                    let value = self.variable()?;
                    started |= !value.is_empty();
                    word.push_str(&value);
                }
                c if c == self.escape => {
                    started = true;
                    match self.chars.next() {
                        Some(n) => word.push(n),
                        None => word.push(c),
                    }
                }
                c => {
                    started = true;
                    word.push(c);
                }
            }
        }
        if started || !split {
            words.push(word);
        }
        Ok(words)
    }

    /// After a `$`: the variable's expansion (a lone `$` stays itself).
    fn variable(&mut self) -> Result<String, SubstituteError> {
        match self.chars.peek().copied() {
            Some('{') => {
                self.chars.next();
                let name = self.name();
                if name.is_empty() {
                    return Err(SubstituteError("bad substitution: ${} without a name".into()));
                }
                let value = (self.vars)(&name);
                let colon = self.chars.peek() == Some(&':');
                if colon {
                    self.chars.next();
                }
                let op = self.chars.next();
                let unset_or_empty = value.as_deref().is_none_or(str::is_empty);
                // With ':' the test is "unset or empty", without it "unset".
                let missing = if colon { unset_or_empty } else { value.is_none() };
                match op {
                    Some('}') if !colon => Ok(value.unwrap_or_default()),
                    Some('-') => {
                        let word = self.scan(false, true)?.pop().unwrap_or_default();
                        Ok(if missing { word } else { value.unwrap_or_default() })
                    }
                    Some('+') => {
                        let word = self.scan(false, true)?.pop().unwrap_or_default();
                        Ok(if missing { String::new() } else { word })
                    }
                    Some('?') => {
                        let word = self.scan(false, true)?.pop().unwrap_or_default();
                        match missing {
                            true if word.is_empty() => {
                                Err(SubstituteError(format!("{name}: is not allowed to be unset")))
                            }
                            true => Err(SubstituteError(format!("{name}: {word}"))),
                            false => Ok(value.unwrap_or_default()),
                        }
                    }
                    Some(other) => Err(SubstituteError(format!(
                        "bad substitution: unsupported modifier {other:?} in ${{{name}…}}"
                    ))),
                    None => Err(SubstituteError("missing '}' in a ${…} substitution".into())),
                }
            }
            Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                let name = self.name();
                Ok((self.vars)(&name).unwrap_or_default())
            }
            _ => Ok("$".into()),
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(&c) = self.chars.peek() {
            if c == '_' || c.is_ascii_alphanumeric() {
                name.push(c);
                self.chars.next();
            } else {
                break;
            }
        }
        name
    }
}
