//! The build context: the directory COPY and ADD read from, minus what `.dockerignore`
//! excludes. Nothing outside it is ever read: a source is cleaned lexically (`../outside` is
//! refused) and opened with `openat2(RESOLVE_BENEATH)` below the context's directory fd, so a
//! symlink in the context that leads out of it (`ln -s /etc x`, `ln -s ../.. up`) is refused
//! by the kernel, not by a check that could race. Below a source directory every entry is
//! opened `O_NOFOLLOW` relative to its parent's fd; symlinks inside are copied as symlinks.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat};

use super::ignore::{self, Ignore};

/// The context directory, open.
pub struct Context {
    fd: OwnedFd,
    ignore: Ignore,
}

/// One COPY source: its path in the context (`""` for the context itself) and the file.
pub struct Source {
    pub rel: String,
    pub fd: OwnedFd,
    pub stat: FileStat,
}

impl Source {
    /// Opens the (regular) file for reading: through its fd's /proc link, exactly the file
    /// openat2 checked, whatever the context's names now say.
    pub fn open(&self) -> std::io::Result<File> {
        use std::os::fd::AsRawFd;
        File::open(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// Its name (the last component of its context path).
    pub fn name(&self) -> &str {
        self.rel.rsplit('/').next().unwrap_or_default()
    }

    pub fn is_dir(&self) -> bool {
        SFlag::from_bits_truncate(self.stat.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR
    }
}

/// A directory entry below a source.
pub enum Child {
    Dir(Dir, FileStat),
    File(File, FileStat),
    Symlink(PathBuf, FileStat),
    /// Fifos, sockets, devices: not copied (as Docker's context tar leaves sockets out).
    Other,
}

impl Context {
    /// Opens `root` with its `.dockerignore` rules.
    pub fn open(root: &Path, ignore: Ignore) -> Result<Context, String> {
        let fd = nix::fcntl::open(
            root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| format!("opening the build context {}: {e}", root.display()))?;
        Ok(Context { fd, ignore })
    }

    /// Whether `.dockerignore` leaves the context path `rel` out.
    pub fn excluded(&self, rel: &str) -> bool {
        !rel.is_empty() && self.ignore.excludes(rel)
    }

    /// Whether an excluded directory may hold files `.dockerignore` includes again.
    pub fn may_reinclude(&self) -> bool {
        self.ignore.has_exceptions()
    }

    /// The sources `src` names (with wildcards, each match in name order).
    pub fn sources(&self, src: &str) -> Result<Vec<Source>, String> {
        let rel = clean(src).ok_or_else(|| format!("forbidden path outside the build context: {src}"))?;
        if !ignore::has_wildcards(&rel) {
            if self.excluded(&rel) {
                return Err(format!("{src}: excluded by .dockerignore"));
            }
            return Ok(vec![self.open_source(&rel, src)?]);
        }
        let pattern: Vec<String> = rel.split('/').map(str::to_owned).collect();
        let mut found = Vec::new();
        self.walk("", &mut |path| {
            let components: Vec<&str> = path.split('/').collect();
            if ignore::matches_components(&pattern, &components) && !self.excluded(path) {
                found.push(path.to_owned());
            }
        })?;
        if found.is_empty() {
            return Err(format!(
                "no source files were specified: nothing in the context matches {src}"
            ));
        }
        found.sort();
        found.iter().map(|rel| self.open_source(rel, src)).collect()
    }

    fn open_source(&self, rel: &str, src: &str) -> Result<Source, String> {
        let path = if rel.is_empty() { "." } else { rel };
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let fd = openat2(self.fd.as_fd(), path, how).map_err(|e| match e {
            Errno::EXDEV | Errno::ELOOP => {
                format!("forbidden path outside the build context: {src} (a symlink leads out of it)")
            }
            Errno::ENOENT => format!("{src}: no such file or directory in the build context"),
            e => format!("{src} in the build context: {e}"),
        })?;
        let stat = fstat(&fd).map_err(|e| format!("{src}: {e}"))?;
        Ok(Source {
            rel: rel.to_owned(),
            fd,
            stat,
        })
    }

    /// Calls `each` with the context path of every entry below `rel` (not following symlinks).
    fn walk(&self, rel: &str, each: &mut dyn FnMut(&str)) -> Result<(), String> {
        let source = self.open_source(rel, rel)?;
        let mut stack = vec![(
            rel.to_owned(),
            open_dir(&source.fd, ".").map_err(|e| format!("{rel}: {e}"))?,
        )];
        while let Some((path, mut dir)) = stack.pop() {
            for (name, child) in children(&mut dir).map_err(|e| format!("{path}: {e}"))? {
                let child_path = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}/{name}")
                };
                each(&child_path);
                if let Child::Dir(d, _) = child {
                    stack.push((child_path, d));
                }
            }
        }
        Ok(())
    }
}

/// Opens the directory `name` below `parent` (`O_NOFOLLOW`).
pub fn open_dir(parent: &impl AsFd, name: &str) -> nix::Result<Dir> {
    let fd = openat(
        parent.as_fd(),
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    Dir::from_fd(fd)
}

/// The entries of `dir` (not `.`/`..`), in name order, each opened below it without
/// following symlinks.
pub fn children(dir: &mut Dir) -> nix::Result<Vec<(String, Child)>> {
    let mut names = Vec::new();
    for entry in dir.iter() {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != "." && name != ".." {
            names.push(name);
        }
    }
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let stat = nix::sys::stat::fstatat(dir.as_fd(), name.as_str(), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let kind = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
        let child = match kind {
            SFlag::S_IFDIR => Child::Dir(open_dir(dir, &name)?, stat),
            SFlag::S_IFREG => {
                // O_NONBLOCK: a file swapped for a fifo since fstatat must not block the build;
                // what was opened is checked again.
                let fd = openat(
                    dir.as_fd(),
                    name.as_str(),
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
                    Mode::empty(),
                )?;
                let opened = fstat(&fd)?;
                if SFlag::from_bits_truncate(opened.st_mode & SFlag::S_IFMT.bits()) != SFlag::S_IFREG {
                    return Err(Errno::ESTALE);
                }
                Child::File(File::from(fd), opened)
            }
            SFlag::S_IFLNK => {
                let target = nix::fcntl::readlinkat(dir.as_fd(), name.as_str())?;
                Child::Symlink(PathBuf::from(target), stat)
            }
            _ => Child::Other,
        };
        out.push((name, child));
    }
    Ok(out)
}

/// A context path cleaned: a leading `/` and `.` components dropped, `..` applied; `None`
/// when it climbs out of the context.
pub fn clean(src: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in src.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}
