//! A plan as text: one line per step, what a reviewer reads to see what a change does to a
//! spawn. fds are named by their order of first appearance (`fd1`, `fd2`, …), slots `slotN`,
//! container paths and strings as they are; nothing depends on this process's fd numbers, so
//! the golden tests in `golden.rs` compare it with checked-in files.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::fmt::Write;
use std::os::fd::RawFd;

use super::{ContainerPath, Plan, Step};

/// Names fds in order of first appearance.
#[derive(Default)]
struct FdNames(HashMap<RawFd, usize>);

impl FdNames {
    fn name(&mut self, fd: RawFd) -> String {
        if fd < 0 {
            return "-".into();
        }
        let next = self.0.len() + 1;
        format!("fd{}", self.0.entry(fd).or_insert(next))
    }
}

fn text(s: &CStr) -> String {
    s.to_string_lossy().into_owned()
}

fn path(p: &ContainerPath) -> String {
    let last = p.prefixes.last().map_or_else(|| "/".into(), |s| text(s));
    let strict = p.resolve & libc::RESOLVE_NO_SYMLINKS != 0;
    let mut out = if strict { format!("{last} (no symlinks)") } else { last };
    if p.create_from > 0 {
        let _ = write!(out, " (first {} exist)", p.create_from);
    }
    out
}

fn caps(bits: u64) -> String {
    format!("{:#x}", bits)
}

/// The strings a NULL-terminated pointer array points to.
fn strings(pointers: &[*const libc::c_char]) -> Vec<String> {
    pointers
        .iter()
        .take_while(|p| !p.is_null())
        // SAFETY: the plan's pointer arrays point into CStrings the plan owns, alive with it.
        .map(|p| text(unsafe { CStr::from_ptr(*p) }))
        .collect()
}

impl Plan {
    /// One line per step: index, the label reported if it fails, and what it does.
    pub(crate) fn render(&self) -> String {
        let mut fds = FdNames::default();
        let mut out = String::new();
        for (index, (step, (label, label_path))) in self.steps.iter().zip(&self.labels).enumerate() {
            let label = match label_path {
                Some(p) => format!("{label} {}", p.display()),
                None => label.to_string(),
            };
            let _ = writeln!(out, "{index:3} [{label}] {}", describe(step, &mut fds));
        }
        out
    }
}

fn describe(step: &Step, fds: &mut FdNames) -> String {
    let opt = |s: &Option<CString>| s.as_deref().map_or_else(|| "-".into(), text);
    match step {
        Step::CloseFd(fd) => format!("close {}", fds.name(*fd)),
        Step::ParentDeathSignal(signal) => format!("parent death signal {signal}"),
        Step::WaitForParent(fd) => format!("wait for the parent on {}", fds.name(*fd)),
        Step::JoinCgroup(fd) => format!("join cgroup through {}", fds.name(*fd)),
        Step::JoinNamespaces { pidfd, flags } => format!("setns {} {flags:#x}", fds.name(*pidfd)),
        Step::SetCredentials { uid, gid, groups } => format!("credentials uid {uid} gid {gid} groups {groups:?}"),
        Step::Unshare(flags) => format!("unshare {flags:#x}"),
        Step::JoinNamespaceFile { path, flags } => format!("setns {} {flags:#x}", text(path)),
        Step::NotDumpable => "not dumpable".into(),
        Step::NoNewPrivileges => "no_new_privs".into(),
        Step::NewSession => "new session".into(),
        Step::SetRlimit { resource, soft, hard } => format!("rlimit {resource} {soft} {hard}"),
        Step::DropBoundingSet { drop } => format!("drop bounding {}", caps(*drop)),
        Step::KeepCapabilities => "keep capabilities".into(),
        Step::SetCapabilities { set, ambient } => format!("capabilities {} ambient {}", caps(*set), caps(*ambient)),
        Step::LandlockRuleset { handled, at } => format!("landlock ruleset {handled:#x} at {}", fds.name(*at)),
        Step::LandlockRule { path, access, ruleset } => {
            format!("landlock rule {} {access:#x} in {}", text(path), fds.name(*ruleset))
        }
        Step::Seccomp(programs) => {
            let lengths: Vec<usize> = programs.iter().map(|p| p.len()).collect();
            let flags: Vec<u32> = programs.iter().map(|p| p.flags()).collect();
            if flags.iter().all(|f| *f == 0) {
                format!("seccomp, programs of {lengths:?} instructions")
            } else {
                format!("seccomp, programs of {lengths:?} instructions, flags {flags:?}")
            }
        }
        Step::PrivatePropagation => "private propagation".into(),
        Step::SlavePropagation => "slave propagation".into(),
        Step::OpenSource { path, slot, no_follow } => format!(
            "open source {} into slot{slot}{}",
            text(path),
            if no_follow.is_some() { " (no symlinks)" } else { "" }
        ),
        Step::Stage {
            stage,
            bind_slot,
            read_only,
            tmpfs,
        } => match bind_slot {
            Some(slot) => format!("stage slot{slot} at {} (read-only: {read_only})", text(stage)),
            None => format!("stage a tmpfs at {} data {}", text(stage), text(tmpfs)),
        },
        Step::StageOverlay {
            stage,
            lower,
            upper,
            attach,
            tmpfs,
        } => {
            let mut lower: Vec<String> = lower.iter().map(|s| format!("slot{s}")).collect();
            if *attach {
                lower.push(" (idmapped, attached first)".into());
            }
            match upper {
                Some((upper, work)) => format!(
                    "stage an overlay of {} at {}, upper slot{upper}, work slot{work}",
                    lower.join(":"),
                    text(stage)
                ),
                None => format!(
                    "stage an overlay of {} at {}, upper in a tmpfs data {}",
                    lower.join(":"),
                    text(stage),
                    text(tmpfs)
                ),
            }
        }
        Step::Bind {
            slot,
            target,
            leaf,
            recursive,
            read_only,
            attrs,
        } => {
            let mut text = format!(
                "bind slot{slot} onto {} ({leaf:?}, recursive {recursive}, read-only {read_only})",
                path(target)
            );
            if *attrs != Default::default() {
                text.push_str(&format!(
                    " attrs set {:#x} clear {:#x} propagation {:#x}",
                    attrs.set, attrs.clear, attrs.propagation
                ));
            }
            text
        }
        Step::AttachTree {
            slot,
            target,
            leaf,
            propagation,
        } => format!(
            "attach tree slot{slot} onto {} ({leaf:?}, propagation {propagation:#x})",
            path(target)
        ),
        Step::Shadow {
            path: p,
            options,
            attrs,
            fill,
            slot,
        } => {
            let options: Vec<String> = options
                .iter()
                .map(|(k, v)| format!("{}={}", text(k), text(v)))
                .collect();
            let fill = match fill {
                Some(read_only) => format!("entries bound back (read-only {read_only})"),
                None => "empty".into(),
            };
            format!(
                "tmpfs {} attrs {attrs:#x} over {} into slot{slot}, {fill}",
                options.join(","),
                path(p)
            )
        }
        Step::Populate { source, read_only } => {
            format!("populate the root with the entries of slot{source} bound back (read-only {read_only})")
        }
        Step::MountPoint { dir, path: p, leaf } => format!("mount point slot{dir}/{} ({leaf:?})", path(p)),
        Step::OpenMountDir { path: p, slot } => format!("open {} into slot{slot}", path(p)),
        Step::BindInto { source, dir, name } => format!("bind slot{source} onto slot{dir}/{}", text(name)),
        Step::MountInto {
            dir,
            name,
            fstype,
            flags,
            data,
        } => format!(
            "mount {} on slot{dir}/{} flags {flags:#x} data {}",
            text(fstype),
            text(name),
            opt(data)
        ),
        Step::SymlinkInto { dir, name, link } => format!("symlink slot{dir}/{} -> {}", text(name), text(link)),
        Step::DevDir { dir, name, slot } => format!("device dir slot{dir}/{} into slot{slot}", text(name)),
        Step::MakeDevice {
            dir,
            name,
            mode,
            rdev,
            uid,
            gid,
        } => format!(
            "mknod slot{dir}/{} mode {mode:#o} dev {}:{} owner {uid}:{gid}",
            text(name),
            libc::major(*rdev),
            libc::minor(*rdev)
        ),
        Step::Mount {
            fstype,
            target,
            flags,
            data,
        } => format!(
            "mount {} on {} flags {flags:#x} data {}",
            text(fstype),
            path(target),
            opt(data)
        ),
        Step::Symlink { link, path: p } => format!("symlink {} -> {}", path(p), text(link)),
        Step::ReadOnlyMount(slot) => format!("read-only mount at slot{slot}"),
        Step::ReadOnlyRoot => "read-only root".into(),
        Step::PivotRoot => "pivot_root".into(),
        Step::CheckDevNull => "check /dev/null".into(),
        Step::MaskPath { path, dir } => format!("mask {} (directory first: {dir})", text(path)),
        Step::ReadOnlyPath(path) => format!("read-only {}", text(path)),
        Step::SetHostname(name) => format!("hostname {}", text(name)),
        Step::WriteFile { path, value } => format!("write {} to {}", text(value), text(path)),
        Step::SetDomainname(name) => format!("domainname {}", text(name)),
        Step::Umask(mask) => format!("umask {mask:#o}"),
        Step::Personality(value) => format!("personality {value:#x}"),
        Step::IoPriority(value) => format!("ioprio {value:#x}"),
        Step::Scheduler(attr) => format!("sched_setattr {attr:?}"),
        Step::MemoryPolicy { mode, nodes } => format!("set_mempolicy {mode:#x} nodes {}", crate::numa::render(nodes)),
        Step::CpuAffinity(cpus) => format!("sched_setaffinity {}", crate::numa::render(cpus)),
        Step::LoopbackUp => "loopback up".into(),
        Step::Chdir(dir) => format!("chdir {}", text(dir)),
        Step::Dup { from, to } => format!("dup {} to {to}", fds.name(*from)),
        Step::CloseOtherFds { preserved: 0 } => "close-on-exec from fd 3".into(),
        Step::CloseOtherFds { preserved } => format!(
            "keep fds 3..{} open, close-on-exec from fd {}",
            3 + preserved,
            3 + preserved
        ),
        Step::OpenPty {
            socket,
            rows,
            cols,
            console,
        } => {
            let console = console.map_or(String::new(), |uid| format!(", /dev/console, owner {uid}"));
            format!("pty {rows}x{cols}, master over {}{console}", fds.name(*socket))
        }
        Step::StartConnector {
            socket,
            ready,
            binary,
            bounding,
        } => format!(
            "start connector socket {} ready {} binary {} dropping {}",
            fds.name(*socket),
            fds.name(*ready),
            fds.name(*binary),
            caps(*bounding)
        ),
        Step::BlockSignals => "block signals".into(),
        Step::ForkInit {
            status_fd,
            ready_read,
            ready_write,
            lifeline,
            binary,
            bounding,
            shared_memory,
        } => format!(
            "fork init status {} ready {}/{} lifeline {} binary {} dropping {} (shared memory: {shared_memory})",
            fds.name(*status_fd),
            fds.name(*ready_read),
            fds.name(*ready_write),
            fds.name(*lifeline),
            fds.name(*binary),
            caps(*bounding)
        ),
        Step::ResetSignals => "reset signals".into(),
        Step::RunHook {
            path,
            argv,
            envp,
            stdin,
            timeout,
            ..
        } => format!(
            "run {} argv {:?} env {:?} stdin {} timeout {timeout}s",
            text(path),
            strings(argv),
            strings(envp),
            fds.name(*stdin)
        ),
        Step::ForkAway { pid_fd } => format!("fork away, the pid to {}", fds.name(*pid_fd)),
        Step::Lookup(candidates) => {
            let candidates: Vec<String> = candidates.iter().map(|c| text(c)).collect();
            format!("look up {candidates:?}")
        }
        Step::Exec {
            candidates,
            argv,
            envp,
            launcher,
            error_fd,
            landlock_fd,
            ready_fd,
            gate_fd,
        } => {
            let candidates: Vec<String> = candidates.iter().map(|c| text(c)).collect();
            let mut line = format!(
                "exec {candidates:?} argv {:?} env {:?} error {} landlock {} ready {}",
                strings(argv),
                strings(envp),
                fds.name(*error_fd),
                fds.name(*landlock_fd),
                fds.name(*ready_fd)
            );
            if *gate_fd >= 0 {
                let _ = write!(line, " gate {}", fds.name(*gate_fd));
            }
            if let Some((binary, launcher_argv)) = launcher {
                // The fd numbers in the launcher's argv are this process's: named like the rest.
                use crate::pid1::protocol::exec_arg;
                let is_fd = |i| {
                    [
                        exec_arg::ERROR_FD,
                        exec_arg::LANDLOCK,
                        exec_arg::READY_FD,
                        exec_arg::GATE_FD,
                    ]
                    .contains(&i)
                };
                let argv: Vec<String> = strings(launcher_argv)
                    .into_iter()
                    .enumerate()
                    .map(|(i, a)| match a.parse::<RawFd>() {
                        Ok(fd) if is_fd(i) => fds.name(fd),
                        _ => a,
                    })
                    .take(exec_arg::HEADER)
                    .collect();
                let _ = write!(line, " through {} {argv:?}", fds.name(*binary));
            }
            line
        }
    }
}
