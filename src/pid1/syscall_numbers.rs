//! The syscall numbers nsbox-init makes and its fixed filters allow, per architecture: one
//! table for the `no_std` binary (`src/pid1/nsbox_init.rs`) and the filters
//! (`src/pid1/confinement.rs`), which both include this file.

#[cfg(target_arch = "x86_64")]
mod table {
    pub const READ: u32 = 0;
    pub const WRITE: u32 = 1;
    pub const CLOSE: u32 = 3;
    pub const GETPID: u32 = 39;
    pub const SOCKET: u32 = 41;
    pub const CONNECT: u32 = 42;
    pub const RECVFROM: u32 = 45;
    pub const SENDMSG: u32 = 46;
    pub const EXECVE: u32 = 59;
    pub const WAIT4: u32 = 61;
    pub const KILL: u32 = 62;
    pub const FCNTL: u32 = 72;
    pub const RT_SIGTIMEDWAIT: u32 = 128;
    pub const PRCTL: u32 = 157;
    pub const RESTART_SYSCALL: u32 = 219;
    pub const EXIT_GROUP: u32 = 231;
    pub const LANDLOCK_RESTRICT_SELF: u32 = 446;
    // A warm pool's launcher (src/pool).
    pub const MMAP: u32 = 9;
    pub const RECVMSG: u32 = 47;
    pub const CHDIR: u32 = 80;
    pub const DUP3: u32 = 292;
    /// `AUDIT_ARCH_X86_64`, what `seccomp_data.arch` holds for native syscalls.
    pub const AUDIT_ARCH: u32 = 0xc000_003e;
}

#[cfg(target_arch = "aarch64")]
mod table {
    pub const READ: u32 = 63;
    pub const WRITE: u32 = 64;
    pub const CLOSE: u32 = 57;
    pub const GETPID: u32 = 172;
    pub const SOCKET: u32 = 198;
    pub const CONNECT: u32 = 203;
    pub const RECVFROM: u32 = 207;
    pub const SENDMSG: u32 = 211;
    pub const EXECVE: u32 = 221;
    pub const WAIT4: u32 = 260;
    pub const KILL: u32 = 129;
    pub const FCNTL: u32 = 25;
    pub const RT_SIGTIMEDWAIT: u32 = 137;
    pub const PRCTL: u32 = 167;
    pub const RESTART_SYSCALL: u32 = 128;
    pub const EXIT_GROUP: u32 = 94;
    pub const LANDLOCK_RESTRICT_SELF: u32 = 446;
    // A warm pool's launcher (src/pool).
    pub const MMAP: u32 = 222;
    pub const RECVMSG: u32 = 212;
    pub const CHDIR: u32 = 49;
    pub const DUP3: u32 = 24;
    /// `AUDIT_ARCH_AARCH64`.
    pub const AUDIT_ARCH: u32 = 0xc000_00b7;
}

pub use table::*;
