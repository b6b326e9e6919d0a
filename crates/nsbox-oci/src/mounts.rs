//! `mounts`: nsbox's own kernel filesystems checked against the bundle's, the rest mapped to
//! [`nsbox::Mount`].

use std::path::{Component, Path, PathBuf};

use nsbox::{ContainerBuilder, Mount, Namespaces};

use crate::bundle::Bundle;
use crate::error::{Result, invalid, unsupported};
use crate::size;

/// A mount nsbox always makes itself, and the options of it a bundle may ask for: those
/// nsbox applies, and hardening flags nsbox adds whether asked or not (docs/oci.md).
struct Fixed {
    destination: &'static str,
    types: &'static [&'static str],
    options: &'static [&'static str],
}

const FIXED: [Fixed; 6] = [
    Fixed {
        destination: "/proc",
        types: &["proc"],
        options: &["nosuid", "noexec", "nodev", "rw"],
    },
    Fixed {
        destination: "/dev",
        types: &["tmpfs"],
        options: &["nosuid", "strictatime", "mode=755", "size=65536k", "rw"],
    },
    Fixed {
        destination: "/dev/pts",
        types: &["devpts"],
        options: &[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
            "mode=620",
            "rw",
        ],
    },
    Fixed {
        destination: "/dev/shm",
        types: &["tmpfs", "shm"],
        options: &["nosuid", "noexec", "nodev", "mode=1777", "rw"],
    },
    Fixed {
        destination: "/dev/mqueue",
        types: &["mqueue"],
        options: &["nosuid", "noexec", "nodev", "rw"],
    },
    Fixed {
        destination: "/sys",
        types: &["sysfs"],
        options: &["nosuid", "noexec", "nodev", "ro"],
    },
];

pub(crate) fn map(b: &mut ContainerBuilder, bundle: &Bundle, ns: Namespaces) -> Result<()> {
    let mounts = bundle.spec().mounts().as_deref().unwrap_or_default();
    let mut seen = [false; FIXED.len()];
    for (i, m) in mounts.iter().enumerate() {
        let field = format!("mounts[{i}]");
        if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
            return Err(unsupported(
                format!("{field}.uidMappings"),
                "nsbox makes no idmapped mounts",
            ));
        }
        let destination = normal(m.destination()).ok_or_else(|| {
            invalid(
                format!("{field}.destination"),
                format!("{}: not an absolute path without ..", m.destination().display()),
            )
        })?;
        let typ = m.typ().as_deref().unwrap_or("");
        let options: Vec<&str> = m.options().iter().flatten().map(String::as_str).collect();
        let bind = typ == "bind" || options.iter().any(|o| *o == "bind" || *o == "rbind");
        let at = FIXED.iter().position(|f| Path::new(f.destination) == destination);
        if let Some(at) = at.filter(|_| !bind) {
            if seen[at] {
                return Err(invalid(&field, format!("a second mount at {}", destination.display())));
            }
            seen[at] = true;
            fixed(b, &FIXED[at], typ, &options, &field)?;
            continue;
        }
        let mount = if bind {
            bind_mount(bundle, m.source().as_deref(), &destination, &options, &field)?
        } else {
            match typ {
                "tmpfs" => tmpfs(&destination, &options, &field)?,
                "proc" => proc(&destination, &options, &field)?,
                "cgroup" | "cgroup2" => {
                    return Err(unsupported(
                        &field,
                        format!(
                            "{typ} at {}: nsbox mounts no cgroup filesystem in a container",
                            destination.display()
                        ),
                    ));
                }
                other => {
                    return Err(unsupported(
                        &field,
                        format!(
                            "type {other:?} at {}: nsbox mounts binds, tmpfs and proc",
                            destination.display()
                        ),
                    ));
                }
            }
        };
        b.mount(mount);
    }
    for (f, seen) in FIXED.iter().zip(seen) {
        let made = f.destination != "/dev/mqueue" || ns.contains(Namespaces::IPC) || !ns.contains(Namespaces::USER);
        if made && !seen {
            return Err(unsupported(
                "mounts",
                format!("no {} mount: nsbox always mounts {} there", f.destination, f.types[0]),
            ));
        }
    }
    Ok(())
}

fn fixed(b: &mut ContainerBuilder, f: &Fixed, typ: &str, options: &[&str], field: &str) -> Result<()> {
    if !f.types.contains(&typ) {
        return Err(unsupported(
            field,
            format!("type {typ:?} at {}: nsbox mounts {} there", f.destination, f.types[0]),
        ));
    }
    let mut shm_size = None;
    for option in options {
        if let Some(bytes) = option.strip_prefix("size=").filter(|_| f.destination == "/dev/shm") {
            shm_size = Some(size::bytes(bytes).ok_or_else(|| invalid(field, format!("{option}: not a size")))?);
            continue;
        }
        if !f.options.contains(option) {
            let why = if f.destination == "/sys" && *option == "rw" {
                "nsbox mounts sysfs read-only".to_string()
            } else {
                format!("{option}: nsbox mounts {} with {}", f.destination, f.options.join(","))
            };
            return Err(unsupported(field, why));
        }
    }
    if f.destination == "/sys" && !options.contains(&"ro") {
        return Err(unsupported(
            field,
            "nsbox mounts sysfs read-only; the bundle asks for it writable",
        ));
    }
    if f.destination == "/dev/shm" {
        b.shm_size(shm_size);
    }
    Ok(())
}

fn bind_mount(
    bundle: &Bundle,
    source: Option<&Path>,
    destination: &Path,
    options: &[&str],
    field: &str,
) -> Result<Mount> {
    let source = source.ok_or_else(|| invalid(format!("{field}.source"), "a bind mount needs a source"))?;
    let source = if source.is_absolute() {
        source.to_path_buf()
    } else {
        bundle.inside(source, &format!("{field}.source"))?
    };
    let mut recursive = false;
    let mut read_only = false;
    for option in options {
        match *option {
            "bind" => recursive = false,
            "rbind" => recursive = true,
            "ro" | "rro" => read_only = true,
            "rw" => read_only = false,
            // nsbox's mount namespace is private throughout.
            "private" | "rprivate" => {}
            other => {
                return Err(unsupported(
                    field,
                    format!("bind option {other:?}: nsbox binds take only bind, rbind, ro, rro, rw, private, rprivate"),
                ));
            }
        }
    }
    let mut mount = Mount::bind(source, destination).follow_symlinks();
    if !recursive {
        mount = mount.non_recursive();
    }
    if read_only {
        mount = mount.read_only();
    }
    Ok(mount)
}

fn tmpfs(destination: &Path, options: &[&str], field: &str) -> Result<Mount> {
    let mut mount = Mount::tmpfs(destination);
    let (mut nosuid, mut nodev) = (false, false);
    for option in options {
        match *option {
            "nosuid" => nosuid = true,
            "nodev" => nodev = true,
            "rw" => {}
            "ro" => mount = mount.read_only(),
            o if o.starts_with("size=") => {
                let bytes = size::bytes(&o[5..]).ok_or_else(|| invalid(field, format!("{o}: not a size")))?;
                mount = mount.size(bytes);
            }
            o if o.starts_with("mode=") => {
                let bits = size::mode(&o[5..]).ok_or_else(|| invalid(field, format!("{o}: not a mode")))?;
                mount = mount.mode(bits);
            }
            other => {
                return Err(unsupported(
                    field,
                    format!(
                        "tmpfs option {other:?}: nsbox tmpfs mounts take size=, mode=, ro, rw (always nosuid,nodev)"
                    ),
                ));
            }
        }
    }
    if !(nosuid && nodev) {
        return Err(unsupported(
            field,
            "nsbox mounts every tmpfs nosuid,nodev; the bundle leaves one of them out",
        ));
    }
    Ok(mount)
}

fn proc(destination: &Path, options: &[&str], field: &str) -> Result<Mount> {
    let mut mount = Mount::proc(destination);
    for option in options {
        match *option {
            "nosuid" | "noexec" | "nodev" | "rw" => {}
            "ro" => mount = mount.read_only(),
            other => return Err(unsupported(field, format!("proc option {other:?}"))),
        }
    }
    Ok(mount)
}

/// An absolute path with `.` dropped; `None` if relative or with `..`.
fn normal(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return None;
    }
    Some(path.components().filter(|c| *c != Component::CurDir).collect())
}
