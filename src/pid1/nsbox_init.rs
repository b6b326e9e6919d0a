//! nsbox-init: the PID 1 of a container with a PID namespace, as a tiny static program.
//!
//! Not a module of the crate: build.rs compiles this file on its own (`no_std`, no libc, raw
//! syscalls) and the crate embeds the binary, so a container's init is a ~2 KB process instead
//! of a fork of the host program, which would keep every page of the host's memory alive
//! (copy-on-write) for as long as the container runs.
//!
//! Contract with `src/child/init.rs`, which execs it: every signal is blocked (the mask
//! survives exec), fd 3 is the status pipe, the payload is PID 2 (the first process forked in
//! the new PID namespace), and capabilities were dropped to CAP_KILL. Then, like tini: wait
//! for signals; reap on SIGCHLD; forward everything else to the payload; when the payload
//! exits, write its raw wait status to fd 3 and exit, which ends the namespace.
#![no_std]
#![no_main]

use core::arch::{asm, naked_asm};

#[cfg(target_arch = "x86_64")]
mod nr {
    pub const WRITE: usize = 1;
    pub const WAIT4: usize = 61;
    pub const KILL: usize = 62;
    pub const RT_SIGTIMEDWAIT: usize = 128;
    pub const PRCTL: usize = 157;
    pub const EXIT_GROUP: usize = 231;
}

#[cfg(target_arch = "aarch64")]
mod nr {
    pub const WRITE: usize = 64;
    pub const EXIT_GROUP: usize = 94;
    pub const KILL: usize = 129;
    pub const RT_SIGTIMEDWAIT: usize = 137;
    pub const PRCTL: usize = 167;
    pub const WAIT4: usize = 260;
}

#[cfg(target_arch = "x86_64")]
unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the Linux x86_64 syscall convention; the kernel clobbers rcx and r11.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b, in("rdx") c,
             in("r10") d, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

#[cfg(target_arch = "aarch64")]
unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the Linux aarch64 syscall convention.
    unsafe {
        asm!("svc 0", in("x8") n, inlateout("x0") a as isize => ret, in("x1") b, in("x2") c, in("x3") d,
             options(nostack));
    }
    ret
}

const STATUS_FD: usize = 3;
const PAYLOAD: isize = 2;
const SIGCHLD: isize = 17;
const WNOHANG: usize = 1;
const PR_SET_DUMPABLE: usize = 4;

fn exit(code: i32) -> ! {
    loop {
        // SAFETY: exit_group takes no memory.
        unsafe { syscall4(nr::EXIT_GROUP, code as usize, 0, 0, 0) };
    }
}

/// Reaps every exited child; on the payload's exit, reports and exits.
fn reap() {
    loop {
        let mut status: i32 = 0;
        // SAFETY: status is a valid out-pointer.
        let pid = unsafe { syscall4(nr::WAIT4, usize::MAX, &mut status as *mut i32 as usize, WNOHANG, 0) };
        if pid <= 0 {
            return;
        }
        if pid == PAYLOAD {
            // SAFETY: writes the 4 bytes of status.
            unsafe { syscall4(nr::WRITE, STATUS_FD, &status as *const i32 as usize, 4, 0) };
            let code = if status & 0x7f == 0 { (status >> 8) & 0xff } else { 128 + (status & 0x7f) };
            exit(code);
        }
    }
}

extern "C" fn main() -> ! {
    // Not even the container's root may ptrace or read the memory of its init.
    // SAFETY: prctl with integer arguments.
    unsafe { syscall4(nr::PRCTL, PR_SET_DUMPABLE, 0, 0, 0) };
    let all: u64 = !0;
    loop {
        // SAFETY: `all` is a live 8-byte signal set; no siginfo, no timeout.
        let signal = unsafe { syscall4(nr::RT_SIGTIMEDWAIT, &all as *const u64 as usize, 0, 0, 8) };
        if signal == SIGCHLD || signal < 0 {
            reap();
        } else {
            // SAFETY: kill takes no memory.
            unsafe { syscall4(nr::KILL, PAYLOAD as usize, signal as usize, 0, 0) };
        }
    }
}

/// The ELF entry point: align the stack as a call would, then run `main`.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    naked_asm!("xor ebp, ebp", "and rsp, -16", "call {main}", "ud2", main = sym main)
}

#[cfg(target_arch = "aarch64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    naked_asm!("mov x29, xzr", "mov x30, xzr", "bl {main}", "brk #0", main = sym main)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(255)
}
