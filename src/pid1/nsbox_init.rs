//! nsbox-init: the PID 1 of a container with a PID namespace, and the last exec before the
//! payload, as a tiny static program.
//!
//! Not a module of the crate: build.rs compiles this file on its own (`no_std`, no libc, raw
//! syscalls) and the crate embeds the binary, so a container's init is a ~2 KB process instead
//! of a fork of the host program, which would keep every page of the host's memory alive
//! (copy-on-write) for as long as the container runs.
//!
//! As `nsbox-init PAYLOAD_PID` (argv[0]; PID 1 of a container, or the parent of an exec'd
//! process, outside the container's PID namespace: see `src/plan/exec.rs`), the contract with
//! `src/child/init.rs`: every signal is blocked (the mask survives exec), fd 3 is the status
//! pipe, fd 5 the confirmation pipe, capabilities were dropped to CAP_KILL, no_new_privs is
//! set and it leads a session of its own. It confines itself (see `confinement.rs`: not
//! dumpable, a fixed seccomp filter), confirms on fd 5 and closes it. Then, like tini: wait
//! for signals; reap on SIGCHLD; forward everything else to the payload; when the payload
//! exits, write its raw wait status to fd 3 and exit, which ends the namespace (as PID 1).
//!
//! As `nsbox-exec ERROR_FD STEP LANDLOCK READY_FD READY_BYTES COUNT CANDIDATE... ARGV...`, it
//! executes the payload: first it reads READY_FD (`-` for none) to EOF and goes on only if
//! READY_BYTES bytes came, one from each process that confirms it is confined (nsbox-init,
//! nsbox-connect): the payload must never run beside a process it could still reach. Then it
//! enforces the Landlock ruleset fd LANDLOCK (`-` for none) and runs the first of the COUNT
//! candidate paths that execve accepts, with ARGV and the environment it was given.
//! The setup process runs this instead of executing the payload itself, so that at the
//! payload's execve `/proc/self/exe` is this sealed memfd and not the caller's program: a
//! payload whose interpreter is `/proc/self/exe` (CVE-2019-5736) then runs this binary, which
//! exits, instead of the caller's binary, which it could keep a handle to and overwrite. On
//! failure it writes `(STEP, errno)` to ERROR_FD, as every setup step does, and exits 127.
//!
//! As `nsbox-connect`, it is the container end of published ports: started in the container's
//! network namespace with fd 3 a SOCK_SEQPACKET socket to the caller's forwarder and fd 5 the
//! confirmation pipe, in a session of its own, it confines itself like nsbox-init (with a
//! filter of its own), confirms, then reads
//! requests (`b't'` or `b'u'`, 0, port as little-endian u16), creates a TCP or UDP socket,
//! connects it (non-blocking) to 127.0.0.1:port and sends back the errno (0) with the socket
//! attached (SCM_RIGHTS). The forwarder thus never needs to join the namespace, which would
//! need CAP_SYS_ADMIN on the host: publishing works for unprivileged callers too.
//!
//! Any other argv[0] exits 127 at once.
#![no_std]
#![no_main]

use core::arch::{asm, naked_asm};

mod confinement;
// A warm pool's launcher mode.
mod pool_launcher;
// Shared with the crate, which uses what this binary does not (and the other way round).
#[allow(dead_code)]
mod protocol;
mod syscall_numbers;

use protocol::{EXIT_GATE_CLOSED, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, EXIT_SETUP_FAILED, errno, exec_arg, fd};

use syscall_numbers as nr;

#[cfg(target_arch = "x86_64")]
unsafe fn syscall4(n: u32, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the Linux x86_64 syscall convention; the kernel clobbers rcx and r11.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b, in("rdx") c,
             in("r10") d, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

#[cfg(target_arch = "aarch64")]
unsafe fn syscall4(n: u32, a: usize, b: usize, c: usize, d: usize) -> isize {
    let ret: isize;
    // SAFETY: the Linux aarch64 syscall convention.
    unsafe {
        asm!("svc 0", in("x8") n as usize, inlateout("x0") a as isize => ret, in("x1") b, in("x2") c, in("x3") d,
             options(nostack));
    }
    ret
}

const SIGCHLD: isize = 17;
const WNOHANG: usize = 1;
const PR_SET_DUMPABLE: usize = 4;
const PR_SET_SECCOMP: usize = 22;
const SECCOMP_MODE_FILTER: usize = 2;

/// `struct sock_fprog`.
#[repr(C)]
struct Fprog {
    len: u16,
    filter: *const confinement::Insn,
}

/// Makes this process unreachable from the payload (see `confinement.rs`), then confirms on
/// the confirmation pipe and closes it. Exits instead if the filter cannot be loaded: the
/// launcher then sees a byte missing and the payload never runs.
fn confine(filter: &confinement::Filter) {
    let ready = fd::READY as usize;
    let program = Fprog { len: filter.len as u16, filter: filter.insns.as_ptr() };
    // SAFETY: prctl with integer arguments, then with a live sock_fprog pointing at the filter.
    let loaded = unsafe {
        syscall4(nr::PRCTL, PR_SET_DUMPABLE, 0, 0, 0) == 0
            && syscall4(nr::PRCTL, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program as *const Fprog as usize, 0) == 0
    };
    if !loaded {
        exit(EXIT_SETUP_FAILED);
    }
    // SAFETY: writes one byte from a live buffer; close takes no memory.
    unsafe {
        syscall4(nr::WRITE, ready, &protocol::READY_BYTE as *const u8 as usize, 1, 0);
        syscall4(nr::CLOSE, ready, 0, 0, 0);
    }
}

fn exit(code: i32) -> ! {
    loop {
        // SAFETY: exit_group takes no memory.
        unsafe { syscall4(nr::EXIT_GROUP, code as usize, 0, 0, 0) };
    }
}

/// Reaps every exited child; on the payload's exit, reports and exits.
fn reap(payload: isize) {
    loop {
        let mut status: i32 = 0;
        // SAFETY: status is a valid out-pointer.
        let pid = unsafe { syscall4(nr::WAIT4, usize::MAX, &mut status as *mut i32 as usize, WNOHANG, 0) };
        if pid <= 0 {
            return;
        }
        if pid == payload {
            let bytes = status.to_le_bytes();
            // SAFETY: writes the bytes of the status.
            unsafe { syscall4(nr::WRITE, fd::INIT_STATUS as usize, bytes.as_ptr() as usize, protocol::STATUS_LEN, 0) };
            let code = if status & 0x7f == 0 { (status >> 8) & 0xff } else { 128 + (status & 0x7f) };
            exit(code);
        }
    }
}

const F_SETFD: usize = 2;
const FD_CLOEXEC: usize = 1;

/// Whether the NUL-terminated `s` is `expected` (which has no NUL).
fn is(s: *const u8, expected: &[u8]) -> bool {
    for (i, b) in expected.iter().enumerate() {
        // SAFETY: s is a NUL-terminated argv string; we stop at its NUL at the latest.
        let c = unsafe { *s.add(i) };
        if c != *b {
            return false;
        }
    }
    // SAFETY: as above; index len(expected) is at most the NUL.
    unsafe { *s.add(expected.len()) == 0 }
}

/// A decimal number from a NUL-terminated string.
fn number(s: *const u8) -> Option<usize> {
    let (mut n, mut i) = (0usize, 0);
    loop {
        // SAFETY: s is NUL-terminated; we stop at the NUL.
        let c = unsafe { *s.add(i) };
        match c {
            0 if i > 0 => return Some(n),
            b'0'..=b'9' if i < 10 => n = n * 10 + (c - b'0') as usize,
            _ => return None,
        }
        i += 1;
    }
}

/// Writes `(step, errno)` to the error pipe and exits 127.
fn fail(error_fd: usize, step: usize, errno: i32) -> ! {
    let report = protocol::encode_report(step as u32, errno);
    // SAFETY: writes the bytes of report.
    unsafe { syscall4(nr::WRITE, error_fd, report.as_ptr() as usize, report.len(), 0) };
    exit(EXIT_SETUP_FAILED)
}

/// `nsbox-exec ERROR_FD STEP LANDLOCK READY_FD READY_BYTES COUNT CANDIDATE... ARGV...` (see
/// the module docs).
fn exec_payload(argc: usize, argv: *const *const u8, envp: *const *const u8) -> ! {
    // SAFETY: the kernel laid out argc argv pointers followed by NULL.
    let arg = |i: usize| unsafe { *argv.add(i) };
    let (Some(error_fd), Some(step), Some(ready_bytes), Some(count)) = (
        number(arg(exec_arg::ERROR_FD)),
        number(arg(exec_arg::STEP)),
        number(arg(exec_arg::READY_BYTES)),
        number(arg(exec_arg::COUNT)),
    ) else {
        exit(EXIT_SETUP_FAILED)
    };
    if argc < exec_arg::HEADER + count + 1 {
        exit(EXIT_SETUP_FAILED);
    }
    if let Some(ready) = number(arg(exec_arg::READY_FD)) {
        wait_until_confined(ready, ready_bytes, error_fd, step);
    }
    if let Some(ruleset) = number(arg(exec_arg::LANDLOCK)) {
        // SAFETY: landlock_restrict_self takes an fd and flags.
        let ret = unsafe { syscall4(nr::LANDLOCK_RESTRICT_SELF, ruleset, 0, 0, 0) };
        if ret < 0 {
            fail(error_fd, step, -ret as i32);
        }
        // SAFETY: close takes no memory.
        unsafe { syscall4(nr::CLOSE, ruleset, 0, 0, 0) };
    }
    // SAFETY: GATE_FD is a NUL-terminated argument: its first byte exists.
    if unsafe { *arg(exec_arg::GATE_FD) } == protocol::POOL_GATE_PREFIX {
        // SAFETY: the prefix was not the NUL, so the rest is a NUL-terminated string.
        match number(unsafe { arg(exec_arg::GATE_FD).add(1) }) {
            Some(socket) => pool_launcher::run(socket, error_fd),
            None => exit(EXIT_SETUP_FAILED),
        }
    }
    let gated = number(arg(exec_arg::GATE_FD));
    match gated {
        Some(gate) => wait_at_gate(gate, error_fd),
        // The error pipe closes at the payload's exec, which tells the parent it succeeded.
        // SAFETY: fcntl with integer arguments.
        None => unsafe {
            syscall4(nr::FCNTL, error_fd, F_SETFD, FD_CLOEXEC, 0);
        },
    }
    // SAFETY: the payload's argv starts after the candidates and ends with argv's NULL.
    let payload_argv = unsafe { argv.add(exec_arg::HEADER + count) };
    // SAFETY: the candidates are argv strings from the kernel, as are argv and envp.
    let errno = unsafe { exec_first(argv.add(exec_arg::HEADER), count, payload_argv, envp) };
    if gated.is_some() {
        // Nobody reads the error pipe any more: the shell's statuses say what happened.
        exit(if errno == errno::ENOENT { EXIT_NOT_FOUND } else { EXIT_NOT_EXECUTABLE })
    }
    fail(error_fd, step, errno)
}

/// Executes the first of the `count` `candidates` that execve accepts with `argv` and `envp`;
/// returns the errno the search ends with (`protocol::exec_search_result`).
///
/// # Safety
/// `candidates` points to `count` NUL-terminated paths; `argv` and `envp` are NULL-terminated.
unsafe fn exec_first(candidates: *const *const u8, count: usize, argv: *const *const u8, envp: *const *const u8) -> i32 {
    let (mut last, mut saw_eacces) = (errno::ENOENT, false);
    for i in 0..count {
        // SAFETY: i < count; the strings and arrays are as the caller promised.
        last = -unsafe { syscall4(nr::EXECVE, *candidates.add(i) as usize, argv as usize, envp as usize, 0) } as i32;
        saw_eacces |= last == errno::EACCES;
        if last != errno::EACCES && !protocol::exec_tries_next(last) {
            break;
        }
    }
    protocol::exec_search_result(last, saw_eacces)
}

/// The start gate (see `ContainerBuilder::start_gate`): closing the error pipe tells the
/// parent that everything up to the exec is done; then one byte on `gate` lets the payload
/// run. EOF (every writer gone) or a read error: nothing runs.
fn wait_at_gate(gate: usize, error_fd: usize) {
    // SAFETY: close takes no memory.
    unsafe { syscall4(nr::CLOSE, error_fd, 0, 0, 0) };
    let mut byte = [0u8; 1];
    loop {
        // SAFETY: byte is a live 1-byte buffer.
        let n = unsafe { syscall4(nr::READ, gate, byte.as_mut_ptr() as usize, 1, 0) };
        match n {
            1 => break,
            n if -n as i32 == errno::EINTR => {}
            _ => exit(EXIT_GATE_CLOSED),
        }
    }
    // SAFETY: close takes no memory.
    unsafe { syscall4(nr::CLOSE, gate, 0, 0, 0) };
}

/// Reads `ready` to EOF: every process that holds its write end (nsbox-init, nsbox-connect)
/// writes one byte once it is confined and then closes it. Fewer than `expected` bytes (one
/// of them died first) or a read error fails the step: nothing runs.
fn wait_until_confined(ready: usize, expected: usize, error_fd: usize, step: usize) {
    let mut got = 0;
    let mut buf = [0u8; 8];
    loop {
        // SAFETY: buf is a live 8-byte buffer.
        let n = unsafe { syscall4(nr::READ, ready, buf.as_mut_ptr() as usize, buf.len(), 0) };
        match n {
            0 => break,
            n if n > 0 => got += n as usize,
            n if -n as i32 == errno::EINTR => {}
            n => fail(error_fd, step, -n as i32),
        }
    }
    if got != expected {
        fail(error_fd, step, errno::ECANCELED);
    }
    // SAFETY: close takes no memory.
    unsafe { syscall4(nr::CLOSE, ready, 0, 0, 0) };
}

#[cfg(target_arch = "x86_64")]
unsafe fn syscall6(n: u32, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize) -> isize {
    let ret: isize;
    // SAFETY: the Linux x86_64 syscall convention with six arguments.
    unsafe {
        asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b, in("rdx") c,
             in("r10") d, in("r8") e, in("r9") f, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    ret
}

#[cfg(target_arch = "aarch64")]
unsafe fn syscall6(n: u32, a: usize, b: usize, c: usize, d: usize, e: usize, f: usize) -> isize {
    let ret: isize;
    // SAFETY: the Linux aarch64 syscall convention with six arguments.
    unsafe {
        asm!("svc 0", in("x8") n as usize, inlateout("x0") a as isize => ret, in("x1") b, in("x2") c, in("x3") d,
             in("x4") e, in("x5") f, options(nostack));
    }
    ret
}

const REQUEST_FD: usize = fd::CONNECTOR_SOCKET as usize;

#[repr(C)]
struct SockaddrIn {
    family: u16,
    port: u16,
    addr: u32,
    zero: [u8; 8],
}

#[repr(C)]
struct Iovec {
    base: *const u8,
    len: usize,
}

#[repr(C)]
struct Msghdr {
    name: usize,
    namelen: u32,
    iov: *const Iovec,
    iovlen: usize,
    control: *const u8,
    controllen: usize,
    flags: i32,
}

/// `nsbox-connect` (see the module docs): serves socket requests until the forwarder closes.
fn connect_loop() -> ! {
    confine(&confinement::CONNECTOR_FILTER);
    loop {
        let mut request = [0u8; protocol::REQUEST_LEN];
        // SAFETY: request is a valid buffer of its length; no source address wanted.
        let n = unsafe { syscall6(nr::RECVFROM, REQUEST_FD, request.as_mut_ptr() as usize, request.len(), 0, 0, 0) };
        if n <= 0 {
            exit(0);
        }
        let (kind, port) = protocol::decode_request(&request);
        let kind = if kind == protocol::REQUEST_UDP { 2 } else { 1 }; // SOCK_DGRAM : SOCK_STREAM
        // SOCK_NONBLOCK | SOCK_CLOEXEC
        // SAFETY: socket takes no memory.
        let fd = unsafe { syscall4(nr::SOCKET, 2, kind | 0o4000 | 0o2000000, 0, 0) };
        let mut failure: i32 = if fd < 0 { -fd as i32 } else { 0 };
        if fd >= 0 {
            let addr = SockaddrIn { family: 2, port: port.to_be(), addr: 0x7f00_0001u32.to_be(), zero: [0; 8] };
            // SAFETY: addr is a live sockaddr_in of the size passed.
            let ret = unsafe { syscall4(nr::CONNECT, fd as usize, &addr as *const SockaddrIn as usize, 16, 0) };
            if ret < 0 && -ret as i32 != errno::EINPROGRESS {
                failure = -ret as i32;
            }
        }
        let reply: [u8; protocol::REPLY_LEN] = failure.to_le_bytes();
        let iov = Iovec { base: reply.as_ptr(), len: reply.len() };
        // struct cmsghdr { len: usize, level: i32, type: i32 } + one int, padded to 8.
        let mut control = [0u8; 24];
        control[..8].copy_from_slice(&20usize.to_le_bytes());
        control[8..12].copy_from_slice(&1i32.to_le_bytes()); // SOL_SOCKET
        control[12..16].copy_from_slice(&1i32.to_le_bytes()); // SCM_RIGHTS
        control[16..20].copy_from_slice(&(fd as i32).to_le_bytes());
        let with_fd = failure == 0;
        let message = Msghdr {
            name: 0,
            namelen: 0,
            iov: &iov,
            iovlen: 1,
            control: if with_fd { control.as_ptr() } else { core::ptr::null() },
            controllen: if with_fd { control.len() } else { 0 },
            flags: 0,
        };
        // SAFETY: message and everything it points to live for the call.
        unsafe { syscall4(nr::SENDMSG, REQUEST_FD, &message as *const Msghdr as usize, 0, 0) };
        if fd >= 0 {
            // SAFETY: close takes no memory.
            unsafe { syscall4(nr::CLOSE, fd as usize, 0, 0, 0) };
        }
    }
}

/// Entered from `_start` with the initial stack: argc, argv..., NULL, envp..., NULL.
extern "C" fn main(stack: *const usize) -> ! {
    // SAFETY: the kernel's initial stack layout.
    let argc = unsafe { *stack };
    let argv = unsafe { stack.add(1) } as *const *const u8;
    // SAFETY: envp follows argv's NULL.
    let envp = unsafe { argv.add(argc + 1) };
    // SAFETY: argv[0] exists when argc > 0.
    let name = if argc > 0 { unsafe { *argv } } else { b"\0".as_ptr() };
    if is(name, protocol::EXEC_NAME.to_bytes()) && argc > exec_arg::HEADER {
        exec_payload(argc, argv, envp);
    }
    if is(name, protocol::CONNECT_NAME.to_bytes()) {
        connect_loop();
    }
    if !is(name, protocol::INIT_NAME.to_bytes()) {
        exit(EXIT_SETUP_FAILED);
    }
    // The payload's pid in argv[1] (the connector may have been forked first), else 2.
    // SAFETY: argv[1] exists when argc > 1.
    let payload = if argc > 1 { number(unsafe { *argv.add(1) }).unwrap_or(2) } else { 2 };
    init(payload as isize)
}

const SIGIO: isize = 29;
const F_SETFL: usize = 4;
const F_SETOWN: usize = 8;
const O_NONBLOCK: usize = 0o4000;
const O_ASYNC: usize = 0o20000;

/// Asks for SIGIO when the lifeline (`fd::LIFELINE`) changes, its last writer closing
/// included; false where there is none (a detached container). Before `confine`: the filter
/// has no fcntl.
fn watch_lifeline() -> bool {
    let lifeline = fd::LIFELINE as usize;
    // SAFETY: fcntl and getpid with integer arguments.
    unsafe {
        syscall4(nr::FCNTL, lifeline, F_SETFL, O_NONBLOCK | O_ASYNC, 0) == 0
            && syscall4(nr::FCNTL, lifeline, F_SETOWN, syscall4(nr::GETPID, 0, 0, 0, 0) as usize, 0) == 0
    }
}

/// Whether the caller's process is gone: the lifeline reads EOF (it is non-blocking).
fn caller_gone() -> bool {
    let mut byte = 0u8;
    // SAFETY: reads at most one byte into a live byte.
    unsafe { syscall4(nr::READ, fd::LIFELINE as usize, &mut byte as *mut u8 as usize, 1, 0) == 0 }
}

fn init(payload: isize) -> ! {
    let lifeline = watch_lifeline();
    // Not even the container's root may ptrace or read the memory of its init.
    confine(&confinement::INIT_FILTER);
    // The caller may have died before the watch began: then no SIGIO comes.
    if lifeline && caller_gone() {
        exit(EXIT_SETUP_FAILED);
    }
    let all: u64 = !0;
    loop {
        // SAFETY: `all` is a live 8-byte signal set; no siginfo, no timeout.
        let signal = unsafe { syscall4(nr::RT_SIGTIMEDWAIT, &all as *const u64 as usize, 0, 0, 8) };
        if signal == SIGCHLD || signal < 0 {
            reap(payload);
        } else if signal == SIGIO && lifeline && caller_gone() {
            exit(EXIT_SETUP_FAILED);
        } else {
            // SAFETY: kill takes no memory.
            unsafe { syscall4(nr::KILL, payload as usize, signal as usize, 0, 0) };
        }
    }
}

/// The ELF entry point: align the stack as a call would, then run `main`.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    naked_asm!("xor ebp, ebp", "mov rdi, rsp", "and rsp, -16", "call {main}", "ud2", main = sym main)
}

#[cfg(target_arch = "aarch64")]
#[unsafe(naked)]
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    naked_asm!("mov x29, xzr", "mov x30, xzr", "mov x0, sp", "bl {main}", "brk #0", main = sym main)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    exit(255)
}
