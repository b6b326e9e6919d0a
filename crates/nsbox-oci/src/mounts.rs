//! `mounts`: nsbox's own kernel filesystems checked against the bundle's, the rest mapped to
//! [`nsbox::Mount`].

use std::path::{Component, Path, PathBuf};

use nsbox::{Atime, ContainerBuilder, Mount, Namespaces, Propagation};
use oci_spec::runtime::Linux;

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

const FIXED: [Fixed; 5] = [
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

/// Where nsbox makes a filesystem of its own that a bundle's mount of any type replaces
/// (nsbox's `/dev/shm` and `/dev/mqueue` give way to a mount of the caller's there).
const REPLACEABLE: [&str; 2] = ["/dev/shm", "/dev/mqueue"];

pub(crate) fn map(b: &mut ContainerBuilder, bundle: &Bundle, ns: Namespaces) -> Result<()> {
    let mounts = bundle.spec().mounts().as_deref().unwrap_or_default();
    let mut seen = [false; FIXED.len()];
    let mut shm = false;
    for (i, m) in mounts.iter().enumerate() {
        let field = format!("mounts[{i}]");
        let destination = normal(m.destination()).ok_or_else(|| {
            invalid(
                format!("{field}.destination"),
                format!("{}: not an absolute path without ..", m.destination().display()),
            )
        })?;
        let typ = m.typ().as_deref().unwrap_or("");
        let options: Vec<&str> = m.options().iter().flatten().map(String::as_str).collect();
        let bind = typ == "bind" || options.iter().any(|o| *o == "bind" || *o == "rbind");
        let idmap = crate::mount_idmap::of(bundle, m, &options, bind, &field)?;
        let at = FIXED.iter().position(|f| Path::new(f.destination) == destination);
        let replaces = REPLACEABLE.iter().any(|r| Path::new(r) == destination);
        if replaces {
            if destination == Path::new("/dev/shm") {
                if shm {
                    return Err(invalid(&field, "a second mount at /dev/shm"));
                }
                shm = true;
            }
            if let Some(at) = at {
                if seen[at] {
                    return Err(invalid(&field, format!("a second mount at {}", destination.display())));
                }
                seen[at] = true;
                if !bind {
                    fixed(b, ns, &FIXED[at], typ, &options, &field)?;
                    continue;
                }
            }
        }
        if let Some(at) = at.filter(|_| !bind && !replaces) {
            if seen[at] {
                return Err(invalid(&field, format!("a second mount at {}", destination.display())));
            }
            seen[at] = true;
            fixed(b, ns, &FIXED[at], typ, &options, &field)?;
            continue;
        }
        let mount = if bind {
            let mount = bind_mount(bundle, m.source().as_deref(), &destination, &options, &field)?;
            match idmap {
                Some(idmap) => idmap.apply(mount),
                None => mount,
            }
        } else {
            match typ {
                "tmpfs" => tmpfs(&destination, &options, &field)?,
                // Docker's and containerd's name for the tmpfs of /dev/shm.
                "shm" if destination == Path::new("/dev/shm") => tmpfs(&destination, &options, &field)?,
                "proc" => proc(&destination, &options, &field)?,
                "cgroup" | "cgroup2" => cgroup(&destination, &options, &field)?,
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
    if !shm {
        return Err(unsupported(
            "mounts",
            "no /dev/shm mount: nsbox always mounts a tmpfs there",
        ));
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

fn fixed(b: &mut ContainerBuilder, ns: Namespaces, f: &Fixed, typ: &str, options: &[&str], field: &str) -> Result<()> {
    if !f.types.contains(&typ) {
        return Err(unsupported(
            field,
            format!("type {typ:?} at {}: nsbox mounts {} there", f.destination, f.types[0]),
        ));
    }
    let sys = f.destination == "/sys";
    for option in options {
        let allowed = f.options.contains(option) || (sys && *option == "rw");
        if !allowed {
            let why = format!("{option}: nsbox mounts {} with {}", f.destination, f.options.join(","));
            return Err(unsupported(field, why));
        }
    }
    if sys && !options.contains(&"ro") {
        // A writable sysfs is a fresh one, of the container's network namespace (runc binds
        // the host's /sys without one, which nsbox keeps read-only).
        if !ns.contains(Namespaces::NET) {
            return Err(unsupported(
                field,
                "a writable sysfs without a network namespace: nsbox binds the host's /sys read-only then",
            ));
        }
        b.writable_sys();
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
    let mut propagation = None;
    let mut flags = Flags::default();
    for option in options {
        if flags.take(option) || crate::mount_idmap::OPTIONS.contains(option) {
            continue;
        }
        match *option {
            "bind" => recursive = false,
            "rbind" => recursive = true,
            "ro" | "rro" => read_only = true,
            "rw" => read_only = false,
            "private" => propagation = Some((Propagation::Private, false)),
            "rprivate" => propagation = Some((Propagation::Private, true)),
            "shared" => propagation = Some((Propagation::Shared, false)),
            "rshared" => propagation = Some((Propagation::Shared, true)),
            "unbindable" => propagation = Some((Propagation::Unbindable, false)),
            "runbindable" => propagation = Some((Propagation::Unbindable, true)),
            "slave" => propagation = Some((Propagation::Slave, false)),
            "rslave" => propagation = Some((Propagation::Slave, true)),
            other => {
                return Err(unsupported(
                    field,
                    format!(
                        "bind option {other:?}: nsbox binds take bind, rbind, ro, rro, rw, nosuid, nodev, noexec, \
                         atime flags, private, slave, shared or unbindable propagation, idmap and ridmap"
                    ),
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
    mount = match propagation {
        None => mount,
        Some((p, false)) => mount.propagation(p),
        Some((p, true)) => mount.propagation_recursive(p),
    };
    Ok(flags.apply(mount))
}

/// The flags a bundle gives a bind or a tmpfs, exactly: what is not given is not set (a
/// tmpfs without `nosuid` gets [`Mount::allow_suid`]).
#[derive(Default)]
struct Flags {
    nosuid: bool,
    nodev: bool,
    noexec: bool,
    atime: Option<Atime>,
    nodiratime: bool,
}

impl Flags {
    /// Takes `option` if it is a flag; whether it was.
    fn take(&mut self, option: &str) -> bool {
        match option {
            "nosuid" => self.nosuid = true,
            "nodev" => self.nodev = true,
            "noexec" => self.noexec = true,
            "relatime" => self.atime = Some(Atime::Relative),
            "noatime" => self.atime = Some(Atime::Never),
            "strictatime" => self.atime = Some(Atime::Strict),
            "nodiratime" => self.nodiratime = true,
            _ => return false,
        }
        true
    }

    fn apply(&self, mut mount: Mount) -> Mount {
        if self.nosuid {
            mount = mount.nosuid();
        }
        if self.nodev {
            mount = mount.nodev();
        }
        if self.noexec {
            mount = mount.noexec();
        }
        if let Some(atime) = self.atime {
            mount = mount.atime(atime);
        }
        if self.nodiratime {
            mount = mount.no_diratime();
        }
        mount
    }
}

fn tmpfs(destination: &Path, options: &[&str], field: &str) -> Result<Mount> {
    let mut mount = Mount::tmpfs(destination);
    let mut flags = Flags::default();
    for option in options {
        if flags.take(option) {
            continue;
        }
        match *option {
            // What a fresh tmpfs is without the flags; private is what every nsbox mount is
            // (Docker's --tmpfs says rprivate).
            "rw" | "suid" | "dev" | "exec" | "private" | "rprivate" => {}
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
                        "tmpfs option {other:?}: nsbox tmpfs mounts take size=, mode=, ro, rw, nosuid, nodev, \
                         noexec, atime flags and private propagation"
                    ),
                ));
            }
        }
    }
    // Exactly the bundle's flags: nsbox's default nosuid,nodev only where it says so.
    if !flags.nosuid {
        mount = mount.allow_suid();
    }
    if !flags.nodev {
        mount = mount.allow_devices();
    }
    Ok(flags.apply(mount))
}

/// runc's and Docker's `cgroup` mount (type `cgroup` even on v2): the container's own
/// cgroups ([`Mount::cgroup`]), with exactly the bundle's flags on the tmpfs nsbox makes (the
/// bound cgroup directories keep the host's nosuid,nodev,noexec besides).
fn cgroup(destination: &Path, options: &[&str], field: &str) -> Result<Mount> {
    let mut mount = Mount::cgroup(destination);
    let mut flags = Flags::default();
    for option in options {
        if flags.take(option) {
            continue;
        }
        match *option {
            "rw" | "rprivate" | "private" => {}
            "ro" => mount = mount.read_only(),
            other => {
                return Err(unsupported(
                    field,
                    format!(
                        "cgroup option {other:?}: nsbox's cgroup filesystem takes ro, rw, nosuid, nodev, noexec and atime flags"
                    ),
                ));
            }
        }
    }
    if !flags.nosuid {
        mount = mount.allow_suid();
    }
    if !flags.nodev {
        mount = mount.allow_devices();
    }
    Ok(flags.apply(mount))
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

/// `linux.maskedPaths` and `linux.readonlyPaths`, exactly (absent: none, as under runc).
pub(crate) fn paths(b: &mut ContainerBuilder, linux: &Linux) -> Result<()> {
    let list = |field: &str, given: &Option<Vec<String>>| -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for (i, path) in given.iter().flatten().enumerate() {
            let normal = normal(Path::new(path)).filter(|p| p != Path::new("/"));
            out.push(normal.ok_or_else(|| {
                invalid(
                    format!("{field}[{i}]"),
                    format!("{path}: not an absolute path below / without .."),
                )
            })?);
        }
        Ok(out)
    };
    b.masked_paths(list("linux.maskedPaths", linux.masked_paths())?);
    b.read_only_paths(list("linux.readonlyPaths", linux.readonly_paths())?);
    Ok(())
}

/// `linux.rootfsPropagation`: absent is runc's default, `rslave` (the host's later mounts
/// reach the container: [`ContainerBuilder::receive_host_mounts`]); `private`/`rprivate` is
/// nsbox's own default. `slave` is taken as `rslave` (nsbox sets the propagation of the whole
/// tree). `shared` would let the container's mounts reach the host, and `unbindable` forbids
/// the binds nsbox builds the root with: refused.
pub(crate) fn root_propagation(b: &mut ContainerBuilder, linux: &Linux) -> Result<()> {
    match linux.rootfs_propagation().as_deref() {
        None | Some("") | Some("slave") | Some("rslave") => {
            b.receive_host_mounts();
        }
        Some("private") | Some("rprivate") => {}
        Some(other) => {
            return Err(unsupported(
                "linux.rootfsPropagation",
                format!(
                    "{other:?}: nsbox takes private or slave propagation (nothing mounted in a container reaches the host)"
                ),
            ));
        }
    }
    Ok(())
}
