//! What nsbox-init and nsbox-connect do before anything in the container may run, shared by the
//! crate and the `no_std` binary (`src/pid1/nsbox_init.rs` includes this file as a module):
//! the fd they confirm on, and the fixed seccomp filters they load.
//!
//! Both processes live beside the payload for as long as the container runs, so each must be
//! out of its reach before the payload's first instruction: undumpable (its `/proc/<pid>/mem`,
//! `fd/*` and `exe` need ptrace access, which a non-dumpable process grants only to
//! CAP_SYS_PTRACE), in its own session without a controlling terminal, and under a filter of
//! its own that allows only the few syscalls its loop makes. Each then writes one byte to
//! `protocol::fd::READY` and closes it; the payload's launcher (`nsbox-exec`) reads that pipe to EOF
//! and executes the payload only if every byte came. The filters are fixed (the same for every
//! container) rather than the payload's: an allow list that leaves out `socket` or `wait4`
//! would break them, and these are stricter than any policy a payload gets.
//!
//! No `std`, no allocation: plain constants and a `const fn`.

/// `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
/// Offsets in `struct seccomp_data`.
const NR: u32 = 0;
const ARCH: u32 = 4;
/// x32 syscalls on x86_64 carry this bit; none of them is allowed (nothing above it is a
/// native syscall on aarch64 either).
const X32_BIT: u32 = 0x4000_0000;

use super::syscall_numbers::*;

/// Room for the longest filter below.
const MAX: usize = 16;

/// A filter of `len` instructions.
pub struct Filter {
    pub insns: [Insn; MAX],
    pub len: usize,
}

const fn plain(code: u16, k: u32) -> Insn {
    Insn { code, jt: 0, jf: 0, k }
}

/// Allows exactly `allowed` on this architecture; kills the process for anything else (a
/// wrong architecture, an x32 number, any other syscall).
const fn allow_only(allowed: &[u32]) -> Filter {
    let n = allowed.len();
    assert!(n + 6 <= MAX, "filter too long");
    let mut insns = [plain(RET_K, RET_KILL_PROCESS); MAX];
    // Jump offsets count from the next instruction; `kill` is at n + 4, `allow` at n + 5.
    insns[0] = plain(LD_W_ABS, ARCH);
    insns[1] = Insn {
        code: JEQ_K,
        jt: 0,
        jf: (n + 2) as u8,
        k: AUDIT_ARCH,
    };
    insns[2] = plain(LD_W_ABS, NR);
    insns[3] = Insn {
        code: JGE_K,
        jt: n as u8,
        jf: 0,
        k: X32_BIT,
    };
    let mut i = 0;
    while i < n {
        insns[4 + i] = Insn {
            code: JEQ_K,
            jt: (n - i) as u8,
            jf: 0,
            k: allowed[i],
        };
        i += 1;
    }
    insns[n + 4] = plain(RET_K, RET_KILL_PROCESS);
    insns[n + 5] = plain(RET_K, RET_ALLOW);
    Filter { insns, len: n + 6 }
}

/// nsbox-init's loop (and the crate's in-process fallback of it): wait for a signal, reap,
/// forward, report the status, exit. `close` for the confirmation pipe after the confirmation,
/// `read` to see the lifeline at EOF.
pub const INIT_FILTER: Filter = allow_only(&[
    RT_SIGTIMEDWAIT,
    WAIT4,
    KILL,
    WRITE,
    READ,
    CLOSE,
    EXIT_GROUP,
    RESTART_SYSCALL,
]);

/// nsbox-connect's loop: read a request, make and connect a socket, send it back, close it.
pub const CONNECTOR_FILTER: Filter = allow_only(&[
    RECVFROM,
    SOCKET,
    CONNECT,
    SENDMSG,
    CLOSE,
    WRITE,
    EXIT_GROUP,
    RESTART_SYSCALL,
]);
