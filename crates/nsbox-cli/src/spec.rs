//! What `run` was asked, kept in the container's state directory (`spec.json`) so the monitor,
//! and a later `start`, configure the same container.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{CliError, Result, bail};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunSpec {
    /// The image as the user named it.
    pub image: String,
    /// The image pinned at create (`name@sha256:…`): a later `start` runs the same image even if
    /// the tag moved.
    pub image_pinned: String,
    pub name: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub ports: Vec<PortSpec>,
    pub volumes: Vec<VolumeSpec>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub memory: Option<u64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<u64>,
    pub read_only: bool,
    pub network: NetworkSpec,
    pub tty: bool,
    pub interactive: bool,
    pub rm: bool,
    pub detach: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    pub host_ip: Option<IpAddr>,
    /// 0: any free port.
    pub host_port: u16,
    pub container_port: u16,
    pub udp: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    pub source: PathBuf,
    pub target: PathBuf,
    pub read_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkSpec {
    /// Its own network namespace, loopback only; published ports reach it (Docker's `bridge`
    /// and `none` both land here: nsbox makes no bridge).
    #[default]
    Private,
    Host,
    /// Another container's network namespace (`container:NAME`).
    Container(String),
}

/// `-p [ip:][host:]container[/tcp|/udp]`.
pub fn parse_port(text: &str) -> Result<PortSpec> {
    let bad = || CliError::new(format!("invalid port specification: {text:?}"));
    let (rest, udp) = match text.rsplit_once('/') {
        Some((rest, "tcp")) => (rest, false),
        Some((rest, "udp")) => (rest, true),
        Some(_) => return Err(bad()),
        None => (text, false),
    };
    // An IPv6 address is written in brackets: [::1]:8080:80.
    let (ip, ports) = if let Some(after) = rest.strip_prefix('[') {
        let (ip, ports) = after.split_once("]:").ok_or_else(bad)?;
        (Some(ip), ports)
    } else {
        match rest.matches(':').count() {
            2 => {
                let (ip, ports) = rest.split_once(':').ok_or_else(bad)?;
                (Some(ip), ports)
            }
            0 | 1 => (None, rest),
            _ => return Err(bad()),
        }
    };
    let host_ip = match ip {
        None | Some("") => None,
        Some(ip) => Some(ip.parse::<IpAddr>().map_err(|_| bad())?),
    };
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad);
    let (host_port, container_port) = match ports.split_once(':') {
        Some(("", c)) => (0, port(c)?),
        Some((h, c)) => (port(h)?, port(c)?),
        None => (0, port(ports)?),
    };
    Ok(PortSpec {
        host_ip,
        host_port,
        container_port,
        udp,
    })
}

/// `-v /host/path:/container/path[:ro|:rw]` (named volumes are not supported).
pub fn parse_volume(text: &str) -> Result<VolumeSpec> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, read_only) = match parts[..] {
        [s, t] => (s, t, false),
        [s, t, "ro"] => (s, t, true),
        [s, t, "rw"] => (s, t, false),
        [_, _, mode] => bail!("invalid mode {mode:?} in volume {text:?}: ro or rw"),
        _ => bail!("invalid volume specification: {text:?}"),
    };
    if !source.starts_with('/') {
        bail!("invalid volume {text:?}: the source must be an absolute host path (named volumes are not supported)");
    }
    if !target.starts_with('/') || target.split('/').any(|c| c == "..") {
        bail!("invalid volume {text:?}: the destination must be an absolute path without '..'");
    }
    Ok(VolumeSpec {
        source: PathBuf::from(source),
        target: PathBuf::from(target),
        read_only,
    })
}

/// `-e K=V`, or `-e K` for the caller's own value of K (left out if unset), as Docker does.
pub fn parse_env(text: &str) -> Result<Option<(String, String)>> {
    match text.split_once('=') {
        Some(("", _)) => bail!("invalid environment variable: {text:?}"),
        Some((k, v)) => Ok(Some((k.to_owned(), v.to_owned()))),
        None if text.is_empty() => bail!("invalid environment variable: empty"),
        None => Ok(std::env::var(text).ok().map(|v| (text.to_owned(), v))),
    }
}

/// `--env-file`: one `K=V` (or `K`) per line; `#` comments and blank lines skipped.
pub fn read_env_file(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::new(format!("open {}: {e}", path.display())))?;
    let mut env = Vec::new();
    for line in text.lines() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        env.extend(parse_env(line)?);
    }
    Ok(env)
}

/// `--memory 256m`: bytes with an optional b, k, m or g suffix.
pub fn parse_bytes(text: &str) -> Result<u64> {
    let lower = text.to_ascii_lowercase();
    let (number, unit) = match lower.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => lower.split_at(i),
        None => (lower.as_str(), ""),
    };
    let multiplier: u64 = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => bail!("invalid size: {text:?}"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| CliError::new(format!("invalid size: {text:?}")))?;
    let bytes = value * multiplier as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < u64::MAX as f64) {
        bail!("invalid size: {text:?}");
    }
    Ok(bytes as u64)
}

pub fn parse_network(text: &str) -> Result<NetworkSpec> {
    Ok(match text {
        "none" | "bridge" | "default" => NetworkSpec::Private,
        "host" => NetworkSpec::Host,
        other => match other.strip_prefix("container:") {
            Some(name) if !name.is_empty() => NetworkSpec::Container(name.to_owned()),
            _ => bail!("network {other:?} not found: use none, host or container:NAME"),
        },
    })
}

impl PortSpec {
    pub fn to_port(&self) -> nsbox::Port {
        let port = match self.udp {
            true => nsbox::Port::udp(self.host_port, self.container_port),
            false => nsbox::Port::tcp(self.host_port, self.container_port),
        };
        match self.host_ip {
            Some(ip) => port.host_ip(ip),
            None => port,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_as_docker_writes_them() {
        let p = parse_port("8080:80").unwrap();
        assert_eq!(
            (p.host_ip, p.host_port, p.container_port, p.udp),
            (None, 8080, 80, false)
        );
        let p = parse_port("127.0.0.1:8443:443/tcp").unwrap();
        assert_eq!(p.host_ip, Some("127.0.0.1".parse().unwrap()));
        let p = parse_port("127.0.0.1::53/udp").unwrap();
        assert_eq!((p.host_port, p.container_port, p.udp), (0, 53, true));
        assert_eq!(parse_port("80").unwrap().host_port, 0);
        assert_eq!(
            parse_port("[::1]:8080:80").unwrap().host_ip,
            Some("::1".parse().unwrap())
        );
        for bad in [
            "",
            "x:80",
            "80:x",
            "8080:80/sctp",
            "1.2.3:80:80",
            "70000:80",
            "0:0",
            "a:b:c:d",
        ] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn volumes_and_sizes() {
        let v = parse_volume("/srv/html:/usr/share/nginx/html:ro").unwrap();
        assert!(v.read_only);
        assert!(parse_volume("data:/data").is_err());
        assert!(parse_volume("/a:b").is_err());
        assert!(parse_volume("/a:/b:rx").is_err());
        assert!(parse_volume("/a:/../b").is_err());
        assert_eq!(parse_bytes("256m").unwrap(), 256 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert!(parse_bytes("-1").is_err());
        assert!(parse_bytes("12q").is_err());
        assert!(parse_bytes("1e30g").is_err());
    }
}
