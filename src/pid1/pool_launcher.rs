//! nsbox-exec's warm-pool mode (see `src/pool`): parked before it knows its payload, the
//! launcher takes one message from its pool's socket (`protocol::pool`), and executes what it
//! says. A module of the `no_std` init binary only (`nsbox_init.rs` includes it): no `std`, no
//! allocation but one anonymous mapping of this message's own size.
//!
//! Nothing of the payload runs before the message came: the launcher is the container's only
//! process besides the confined init, so nothing can reach it while it waits. The mapping
//! holds only this payload's own strings; the fds it keeps are the three sent with them
//! (received close-on-exec, duplicated onto 0, 1, 2) and the socket, close-on-exec, whose EOF
//! tells the pool the payload was executed.

use super::protocol::{self, pool};
use super::{EXIT_GATE_CLOSED, nr, syscall4, syscall6};

const MSG_CMSG_CLOEXEC: usize = 0x4000_0000;
const PROT_READ_WRITE: usize = 3;
const MAP_PRIVATE_ANONYMOUS: usize = 0x02 | 0x20;
/// `CMSG_LEN(3 * sizeof(int))` and `CMSG_SPACE` of it on 64-bit Linux.
const RIGHTS_LEN: usize = 16 + 4 * pool::FDS;
const CONTROL_SPACE: usize = 32;

#[repr(C)]
struct Iovec {
    base: *mut u8,
    len: usize,
}

#[repr(C)]
struct Msghdr {
    name: usize,
    namelen: u32,
    iov: *const Iovec,
    iovlen: usize,
    control: *mut u8,
    controllen: usize,
    flags: i32,
}

/// Reports `(step, errno)` on the pool's socket and exits 127. Not inlined: the binary
/// stays under a page.
#[inline(never)]
fn fail(socket: usize, step: u32, errno: i32) -> ! {
    super::fail(socket, step as usize, errno)
}

/// Reads exactly `len` bytes into `buf`, or fails the message.
#[inline(never)]
fn read_exact(socket: usize, buf: *mut u8, len: usize) {
    let mut got = 0;
    while got < len {
        // SAFETY: buf has room for len bytes; we write only the rest of it.
        let n = unsafe { syscall4(nr::READ, socket, buf as usize + got, len - got, 0) };
        match n {
            n if n > 0 => got += n as usize,
            n if -n as i32 == protocol::errno::EINTR => {}
            _ => fail(socket, pool::STEP_MESSAGE, pool::EPROTO),
        }
    }
}

/// Waits on `socket` for the payload, sets it up and executes it (see the module docs).
/// `error_fd` is closed once it is undumpable: that tells `spawn` the container is parked.
pub fn run(socket: usize, error_fd: usize) -> ! {
    // Not dumpable while parked: a process with its uid and capabilities in its user namespace
    // (another container's payload, with neither a PID nor a user namespace of its own) could
    // ptrace it or take its socket, and with them the next run. The payload's execve makes the
    // payload dumpable again, as a cold one is.
    // It cannot fail: `Pool::new` refuses a filter that does not always allow prctl.
    // SAFETY: prctl and close with integer arguments.
    unsafe {
        syscall4(nr::PRCTL, super::PR_SET_DUMPABLE, 0, 0, 0);
        syscall4(nr::CLOSE, error_fd, 0, 0, 0);
    }
    let mut header = [0u8; pool::HEADER_LEN];
    let mut control = [0u64; CONTROL_SPACE / 8];
    let iov = Iovec { base: header.as_mut_ptr(), len: header.len() };
    let mut message = Msghdr {
        name: 0,
        namelen: 0,
        iov: &iov,
        iovlen: 1,
        control: control.as_mut_ptr() as *mut u8,
        controllen: CONTROL_SPACE,
        flags: 0,
    };
    let n = loop {
        // SAFETY: message and the buffers it points to live for the call.
        let n = unsafe { syscall4(nr::RECVMSG, socket, &mut message as *mut Msghdr as usize, MSG_CMSG_CLOEXEC, 0) };
        if -n as i32 != protocol::errno::EINTR {
            break n;
        }
    };
    if n <= 0 {
        // The pool dropped this container without a payload.
        super::exit(EXIT_GATE_CLOSED);
    }
    let fds = received_fds(&control, message.controllen);
    let Some(fds) = fds else { fail(socket, pool::STEP_MESSAGE, pool::EPROTO) };
    let got = n as usize;
    read_exact(socket, header.as_mut_ptr().wrapping_add(got), header.len() - got);
    let (body, count, argc, envc) = pool::decode_header(&header);
    let (body, count, argc, envc) = (body as usize, count as usize, argc as usize, envc as usize);
    let strings = 1 + count + argc + envc;
    // Every string is at least its NUL: no count can exceed the body.
    if body > pool::BODY_MAX || strings > body || argc == 0 {
        fail(socket, pool::STEP_MESSAGE, pool::EPROTO);
    }
    // The pointers first (aligned), then the strings they point into: cwd, the candidates,
    // argv and its NULL, the environment and its NULL.
    let pointers = strings + 2;
    let size = pointers * 8 + body;
    // SAFETY: a new private anonymous mapping; no memory of ours is passed.
    let map = unsafe { syscall6(nr::MMAP, 0, size, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, usize::MAX, 0) };
    if map < 0 {
        fail(socket, pool::STEP_MESSAGE, -map as i32);
    }
    let table = map as usize as *mut usize;
    let text = (map as usize + pointers * 8) as *mut u8;
    read_exact(socket, text, body);
    // The mapping is zeroed: both NULLs are there already. Each string's start goes to its
    // slot; the environment's are one further, past argv's NULL.
    let (mut string, mut start) = (0usize, 0usize);
    for i in 0..body {
        // SAFETY: i < body, inside the mapping.
        if unsafe { *text.add(i) } != 0 {
            continue;
        }
        if string >= strings {
            fail(socket, pool::STEP_MESSAGE, pool::EPROTO);
        }
        let slot = if string > count + argc { string + 1 } else { string };
        // SAFETY: slot < pointers, inside the table.
        unsafe { *table.add(slot) = text as usize + start };
        string += 1;
        start = i + 1;
    }
    // Also refuses a body whose last string has no NUL.
    if string != strings || start != body {
        fail(socket, pool::STEP_MESSAGE, pool::EPROTO);
    }
    for (target, fd) in fds.iter().enumerate() {
        // SAFETY: dup3 takes no memory.
        let ret = unsafe { syscall4(nr::DUP3, *fd as usize, target, 0, 0) };
        if ret < 0 {
            fail(socket, pool::STEP_MESSAGE, -ret as i32);
        }
        // SAFETY: close takes no memory.
        unsafe { syscall4(nr::CLOSE, *fd as usize, 0, 0, 0) };
    }
    // SAFETY: the working directory is a NUL-terminated string in the mapping.
    let ret = unsafe { syscall4(nr::CHDIR, *table, 0, 0, 0) };
    if ret < 0 {
        fail(socket, pool::STEP_CHDIR, -ret as i32);
    }
    // SAFETY: fcntl with integer arguments: EOF on the socket now means the exec succeeded.
    unsafe { syscall4(nr::FCNTL, socket, super::F_SETFD, super::FD_CLOEXEC, 0) };
    let (candidates, argv, envp) = (table.wrapping_add(1), table.wrapping_add(1 + count), table.wrapping_add(1 + count + argc + 1));
    // SAFETY: the candidates, argv and envp are the table's, NULL-terminated, their strings
    // in the mapping.
    let errno = unsafe { super::exec_first(candidates as _, count, argv as _, envp as _) };
    fail(socket, pool::STEP_EXEC, errno)
}

/// The three fds of one SCM_RIGHTS message, none of them at 0-2 (the parked container's
/// stdio is open, so received fds land above; a lower one means something is off).
fn received_fds(control: &[u64; CONTROL_SPACE / 8], len: usize) -> Option<[i32; pool::FDS]> {
    // struct cmsghdr { len: usize, level: i32, type: i32 }, then the ints.
    let (cmsg_len, kind) = (control[0] as usize, control[1]);
    if len < RIGHTS_LEN || cmsg_len != RIGHTS_LEN || kind != (1 << 32 | 1) {
        return None;
    }
    let fds = [control[2] as u32 as i32, (control[2] >> 32) as u32 as i32, control[3] as u32 as i32];
    fds.iter().all(|fd| *fd > 2).then_some(fds)
}
