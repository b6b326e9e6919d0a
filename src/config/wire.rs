//! `Config` on the wire (feature `serde`): a [`Config`] serializes as the [`Settings`] that
//! build it again, and deserializes through [`UncheckedConfig`], which runs `build()`'s checks.
//!
//! Byte strings (paths, the command, arguments, the environment) go through `serialize_bytes`
//! so non-UTF-8 round-trips; types of other crates (nix's `Resource`, caps' `Capability`) by
//! their names, so the form does not depend on their representation.

use std::ffi::OsString;
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{self, Serializer};
use serde::{Deserialize, Serialize};

use crate::config::{Config, Settings, validate};
use crate::error::ConfigError;

/// A [`Config`] as deserialized, before `build()`'s checks (feature `serde`).
///
/// Deserializing a `Config` goes through this type and reports a refused value as the
/// deserializer's error, with the [`ConfigError`]'s message. Deserialize into this type and
/// convert with `try_into` to get the typed [`ConfigError`] instead:
///
/// ```
/// use nsbox::{Config, ConfigError, Setting, UncheckedConfig};
/// let json = r#"{"program": [47, 98, 105, 110, 47, 116, 114, 117, 101], "cwd": [116, 109, 112]}"#;
/// let unchecked: UncheckedConfig = serde_json::from_str(json).unwrap();
/// let err = Config::try_from(unchecked).unwrap_err();
/// assert!(matches!(err, ConfigError::BadContainerPath { setting: Setting::CurrentDir, .. }));
/// ```
///
/// Fields left out take the builder's defaults, as settings not given to a builder do.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UncheckedConfig(Settings);

impl TryFrom<UncheckedConfig> for Config {
    type Error = ConfigError;

    /// Runs the checks of [`build`](crate::ContainerBuilder::build).
    fn try_from(unchecked: UncheckedConfig) -> Result<Config, ConfigError> {
        validate(unchecked.0)
    }
}

impl From<Config> for UncheckedConfig {
    fn from(config: Config) -> Self {
        UncheckedConfig(Settings::from(&config))
    }
}

/// Borrowed bytes, serialized as bytes.
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// Owned bytes, from bytes or a sequence of numbers (JSON has no byte type).
struct ByteBuf(Vec<u8>);

impl<'de> Deserialize<'de> for ByteBuf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ByteBuf;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<ByteBuf, E> {
                Ok(ByteBuf(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ByteBuf, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(ByteBuf(out))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

/// A signal by its name (`SIGTERM`).
pub(crate) mod opt_signal {
    use super::*;
    use crate::signal::Signal;
    pub fn serialize<S: Serializer>(v: &Option<Signal>, s: S) -> Result<S::Ok, S::Error> {
        v.map(|signal| signal.to_string()).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Signal>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|name| {
                name.parse()
                    .map_err(|_| de::Error::custom(format!("unknown signal {name:?}")))
            })
            .transpose()
    }
}

/// A `PathBuf` as bytes.
pub(crate) mod path {
    use super::*;
    pub fn serialize<S: Serializer>(v: &std::path::Path, s: S) -> Result<S::Ok, S::Error> {
        Bytes(v.as_os_str().as_bytes()).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        Ok(OsString::from_vec(ByteBuf::deserialize(d)?.0).into())
    }
}

/// An `Option<OsString>` as optional bytes.
pub(crate) mod opt_os {
    use super::*;
    pub fn serialize<S: Serializer>(v: &Option<OsString>, s: S) -> Result<S::Ok, S::Error> {
        v.as_ref().map(|v| Bytes(v.as_bytes())).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<OsString>, D::Error> {
        Ok(Option::<ByteBuf>::deserialize(d)?.map(|b| OsString::from_vec(b.0)))
    }
}

/// An `Option<PathBuf>` as optional bytes.
pub(crate) mod opt_path {
    use super::*;
    pub fn serialize<S: Serializer>(v: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
        v.as_ref().map(|v| Bytes(v.as_os_str().as_bytes())).serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
        Ok(Option::<ByteBuf>::deserialize(d)?.map(|b| OsString::from_vec(b.0).into()))
    }
}

/// A `Vec<OsString>` as a list of bytes.
pub(crate) mod vec_os {
    use super::*;
    pub fn serialize<S: Serializer>(v: &[OsString], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|v| Bytes(v.as_bytes())))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<OsString>, D::Error> {
        let list = Vec::<ByteBuf>::deserialize(d)?;
        Ok(list.into_iter().map(|b| OsString::from_vec(b.0)).collect())
    }
}

/// A `Vec<PathBuf>` as a list of bytes.
pub(crate) mod vec_path {
    use super::*;
    pub fn serialize<S: Serializer>(v: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|v| Bytes(v.as_os_str().as_bytes())))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
        let list = Vec::<ByteBuf>::deserialize(d)?;
        Ok(list.into_iter().map(|b| OsString::from_vec(b.0).into()).collect())
    }
}

/// An `Option<Vec<PathBuf>>` as an optional list of bytes.
pub(crate) mod opt_vec_path {
    use super::*;
    pub fn serialize<S: Serializer>(v: &Option<Vec<PathBuf>>, s: S) -> Result<S::Ok, S::Error> {
        v.as_ref()
            .map(|v| v.iter().map(|p| Bytes(p.as_os_str().as_bytes())).collect::<Vec<_>>())
            .serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<PathBuf>>, D::Error> {
        let list = Option::<Vec<ByteBuf>>::deserialize(d)?;
        Ok(list.map(|l| l.into_iter().map(|b| OsString::from_vec(b.0).into()).collect()))
    }
}

/// The environment changes: `(name, value)` pairs, a `None` value removes the variable.
pub(crate) mod env {
    use super::*;
    type Env = Vec<(OsString, Option<OsString>)>;
    pub fn serialize<S: Serializer>(v: &Env, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            v.iter()
                .map(|(k, v)| (Bytes(k.as_bytes()), v.as_ref().map(|v| Bytes(v.as_bytes())))),
        )
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Env, D::Error> {
        let list = Vec::<(ByteBuf, Option<ByteBuf>)>::deserialize(d)?;
        let os = |b: ByteBuf| OsString::from_vec(b.0);
        Ok(list.into_iter().map(|(k, v)| (os(k), v.map(os))).collect())
    }
}

/// Namespaces by their `/proc/PID/ns` names (`mnt`, `uts`, ...).
pub(crate) mod namespaces {
    use super::*;
    use crate::namespaces::Namespaces;
    pub fn serialize<S: Serializer>(v: &Namespaces, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().filter_map(Namespaces::proc_name))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Namespaces, D::Error> {
        let mut set = Namespaces::empty();
        for name in Vec::<String>::deserialize(d)? {
            let one = Namespaces::all().iter().find(|n| n.proc_name() == Some(name.as_str()));
            set |= one.ok_or_else(|| de::Error::custom(format!("unknown namespace {name:?}")))?;
        }
        Ok(set)
    }
}

/// Capabilities by name (`CAP_CHOWN`).
pub(crate) mod capabilities {
    use super::*;
    use crate::security::Capabilities;
    pub fn serialize<S: Serializer>(v: &Capabilities, s: S) -> Result<S::Ok, S::Error> {
        let mut caps: Vec<_> = v.iter().collect();
        caps.sort_by_key(|c| c.index());
        s.collect_seq(caps.iter().map(|c| c.to_string()))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Capabilities, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|name| Capabilities::parse(name).map_err(de::Error::custom))
            .collect()
    }
}

/// Resource limits as `(name, soft, hard)`, the name as in `setrlimit(2)` (`RLIMIT_NOFILE`).
pub(crate) mod rlimits {
    use super::*;
    use crate::rlimit::Resource;
    type Limits = Vec<(Resource, u64, u64)>;
    pub fn serialize<S: Serializer>(v: &Limits, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|(r, soft, hard)| (r.to_string(), soft, hard)))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Limits, D::Error> {
        Vec::<(String, u64, u64)>::deserialize(d)?
            .into_iter()
            .map(|(name, soft, hard)| Ok((name.parse::<Resource>().map_err(de::Error::custom)?, soft, hard)))
            .collect()
    }
}

/// The network: `none`, `host`, or `{"join": path}`. A namespace given as an fd has no
/// meaning in another process: serializing it is an error.
pub(crate) mod network {
    use super::*;
    use crate::net::{NetnsRef, Network};

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Wire {
        None,
        Host,
        Join(#[serde(with = "path")] PathBuf),
    }

    pub fn serialize<S: Serializer>(v: &Option<Network>, s: S) -> Result<S::Ok, S::Error> {
        let wire = match v {
            None => None,
            Some(Network::None) => Some(Wire::None),
            Some(Network::Host) => Some(Wire::Host),
            Some(Network::Join(NetnsRef::Path(p))) => Some(Wire::Join(p.clone())),
            Some(Network::Join(NetnsRef::Fd(_))) => {
                return Err(ser::Error::custom(
                    "a network namespace joined by fd cannot be serialized: join it by path",
                ));
            }
        };
        wire.serialize(s)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Network>, D::Error> {
        Ok(Option::<Wire>::deserialize(d)?.map(|w| match w {
            Wire::None => Network::None,
            Wire::Host => Network::Host,
            Wire::Join(path) => Network::join_path(path),
        }))
    }
}

/// Landlock rules as `(path, writable)`.
pub(crate) mod landlock_rules {
    use super::*;
    type Rules = Vec<(PathBuf, bool)>;
    pub fn serialize<S: Serializer>(v: &Rules, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|(p, w)| (Bytes(p.as_os_str().as_bytes()), w)))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Rules, D::Error> {
        let list = Vec::<(ByteBuf, bool)>::deserialize(d)?;
        Ok(list
            .into_iter()
            .map(|(p, w)| (OsString::from_vec(p.0).into(), w))
            .collect())
    }
}

/// Published ports as `(protocol, host address, container port)` (`("tcp", "127.0.0.1:8080", 80)`).
pub(crate) mod ports {
    use super::*;
    use crate::net::{Port, Protocol};
    use std::net::SocketAddr;
    fn name(p: Protocol) -> &'static str {
        match p {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
    pub fn serialize<S: Serializer>(v: &[Port], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|p| (name(p.protocol), p.host, p.container_port)))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Port>, D::Error> {
        Vec::<(String, SocketAddr, u16)>::deserialize(d)?
            .into_iter()
            .map(|(protocol, host, container_port)| {
                let protocol = match protocol.as_str() {
                    "tcp" => Protocol::Tcp,
                    "udp" => Protocol::Udp,
                    other => return Err(de::Error::custom(format!("unknown protocol {other:?}"))),
                };
                Ok(Port {
                    protocol,
                    host,
                    container_port,
                })
            })
            .collect()
    }
}
