//! Image references: `name[:tag]` and `name@sha256:<hex>`, in Docker's grammar
//! (distribution/reference): `[host[:port]/]component[/component...]`, components of lowercase
//! letters and digits joined by `.`, `_`, `__` or dashes, a tag of up to 128 word characters,
//! dots and dashes, not starting with either. Names are kept as written (no `docker.io/library/`
//! is added: the store is local). A reference is a key in the store's refs index, never a path.

use std::fmt;
use std::str::FromStr;

use crate::{Digest, Error};

/// The tag a reference without one means.
pub const DEFAULT_TAG: &str = "latest";

/// The longest name Docker accepts.
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A validated image reference: a name and either a tag or a digest.
///
/// ```
/// use nsbox_image::Reference;
/// let r: Reference = "busybox".parse()?;
/// assert_eq!(r.to_string(), "busybox:latest");
/// let r: Reference = "localhost:5000/tools/busybox:1.36".parse()?;
/// assert_eq!((r.name(), r.tag()), ("localhost:5000/tools/busybox", Some("1.36")));
/// assert!("Busybox".parse::<Reference>().is_err());
/// assert!("../etc:latest".parse::<Reference>().is_err());
/// # Ok::<(), nsbox_image::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    name: String,
    target: Target,
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Target {
    Tag(String),
    Digest(Digest),
}

impl Reference {
    /// Parses and validates `s`; a reference without a tag or digest gets the tag `latest`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let invalid = |reason: &'static str| Error::InvalidReference {
            reference: s.to_owned(),
            reason,
        };
        let (rest, digest) = match s.split_once('@') {
            Some((rest, digest)) => (rest, Some(Digest::parse(digest)?)),
            None => (s, None),
        };
        // A tag follows the last ':' that comes after the last '/' (a ':' before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        validate_name(name).map_err(invalid)?;
        let target = match (tag, digest) {
            (Some(_), Some(_)) => return Err(invalid("a reference names a tag or a digest, not both")),
            (Some(tag), None) => {
                validate_tag(tag).map_err(invalid)?;
                Target::Tag(tag.to_owned())
            }
            (None, Some(digest)) => Target::Digest(digest),
            (None, None) => Target::Tag(DEFAULT_TAG.to_owned()),
        };
        Ok(Self {
            name: name.to_owned(),
            target,
        })
    }

    /// The repository name, e.g. `busybox` or `localhost:5000/tools/busybox`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tag, unless the reference names a digest.
    pub fn tag(&self) -> Option<&str> {
        match &self.target {
            Target::Tag(tag) => Some(tag),
            Target::Digest(_) => None,
        }
    }

    /// The manifest digest, if the reference names one.
    pub fn digest(&self) -> Option<&Digest> {
        match &self.target {
            Target::Digest(digest) => Some(digest),
            Target::Tag(_) => None,
        }
    }

    /// The registry host (and port) the name starts with, if it names one: `localhost:5000` of
    /// `localhost:5000/tools/busybox`, `None` for `busybox` or `library/busybox`. As Docker: the
    /// first of several components is a host if it has a `.` or a `:`, or is `localhost`.
    pub fn domain(&self) -> Option<&str> {
        let (first, _) = self.name.split_once('/')?;
        let is_domain =
            first.contains(['.', ':']) || first == "localhost" || first.bytes().any(|b| b.is_ascii_uppercase());
        is_domain.then_some(first)
    }

    /// The repository path: the name without its registry host (`tools/busybox` of
    /// `localhost:5000/tools/busybox`).
    pub fn path(&self) -> &str {
        match self.domain() {
            Some(domain) => &self.name[domain.len() + 1..],
            None => &self.name,
        }
    }

    /// The same name with another tag.
    pub fn with_tag(&self, tag: &str) -> Result<Self, Error> {
        Self::parse(&format!("{}:{tag}", self.name))
    }
}

fn validate_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("the name is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return Err("the name is longer than 255 characters");
    }
    let mut components: Vec<&str> = name.split('/').collect();
    // As Docker: the first component is a registry host if it has a '.' or a ':', or is
    // `localhost`, and there is more than one component.
    if components.len() > 1 {
        let first = components[0];
        if first.contains(['.', ':']) || first == "localhost" || first.bytes().any(|b| b.is_ascii_uppercase()) {
            validate_domain(first)?;
            components.remove(0);
        }
    }
    for component in components {
        validate_component(component)?;
    }
    Ok(())
}

fn validate_domain(domain: &str) -> Result<(), &'static str> {
    let (host, port) = match domain.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (domain, None),
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("the registry port is not a number");
    }
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !c.starts_with('-')
            && !c.ends_with('-')
    };
    if !host.split('.').all(component_ok) {
        return Err("the registry host is not a host name");
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn validate_component(component: &str) -> Result<(), &'static str> {
    let bytes = component.as_bytes();
    if bytes.iter().any(u8::is_ascii_uppercase) {
        return Err("repository names must be lowercase");
    }
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bad = "a name component is lowercase letters and digits joined by '.', '_', '__' or dashes";
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return Err(bad);
        }
        if i == bytes.len() {
            return Ok(());
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let dashes = separator.bytes().all(|b| b == b'-');
        if !(matches!(separator, "." | "_" | "__") || dashes) {
            return Err(bad);
        }
    }
}

/// `[\w][\w.-]{0,127}`
fn validate_tag(tag: &str) -> Result<(), &'static str> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_TAG_LEN {
        return Err("a tag is 1 to 128 characters");
    }
    if !word(bytes[0]) || !bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-') {
        return Err("a tag is letters, digits, '_', '.' and '-', not starting with '.' or '-'");
    }
    Ok(())
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Tag(tag) => write!(f, "{}:{tag}", self.name),
            Target::Digest(digest) => write!(f, "{}@{digest}", self.name),
        }
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_tags_and_digests_parse_as_docker_does() {
        let ok = [
            ("busybox", "busybox:latest"),
            ("busybox:1.36", "busybox:1.36"),
            ("library/busybox", "library/busybox:latest"),
            ("a.b_c__d---e", "a.b_c__d---e:latest"),
            ("lib/a_c__d---e.f", "lib/a_c__d---e.f:latest"),
            ("localhost/x:t", "localhost/x:t"),
            (
                "registry.example.com:5000/team/app:v1.2-rc_3",
                "registry.example.com:5000/team/app:v1.2-rc_3",
            ),
            ("Example.com/app", "Example.com/app:latest"),
        ];
        for (input, canonical) in ok {
            assert_eq!(Reference::parse(input).unwrap().to_string(), canonical, "{input}");
        }
        let d = Digest::of(b"x");
        let r = Reference::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!((r.tag(), r.digest()), (None, Some(&d)));
    }

    #[test]
    fn malformed_references_are_refused() {
        let long_tag = format!("x:{}", "a".repeat(129));
        let long_name = "a".repeat(256);
        let both = format!("x:t@{}", Digest::of(b""));
        for bad in [
            "",
            ":",
            "Busybox",
            "busy box",
            "../x",
            "x/../y",
            "/x",
            "x/",
            "x//y",
            "-x",
            "x-",
            "x.",
            "x...y",
            "x:",
            "x:.t",
            "x:-t",
            "x:t/u",
            "x@sha256:../../etc",
            "x@",
            "localhost:x/y",
            long_tag.as_str(),
            long_name.as_str(),
            both.as_str(),
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn the_registry_host_is_the_first_component_when_it_looks_like_one() {
        let cases = [
            ("busybox", None, "busybox"),
            ("library/busybox", None, "library/busybox"),
            ("localhost/x", Some("localhost"), "x"),
            ("127.0.0.1:5000/a/b:t", Some("127.0.0.1:5000"), "a/b"),
            ("example.com/app", Some("example.com"), "app"),
        ];
        for (input, domain, path) in cases {
            let r = Reference::parse(input).unwrap();
            assert_eq!((r.domain(), r.path()), (domain, path), "{input}");
        }
    }

    #[test]
    fn a_port_is_not_a_tag() {
        let r = Reference::parse("localhost:5000/app").unwrap();
        assert_eq!((r.name(), r.tag()), ("localhost:5000/app", Some("latest")));
    }
}
