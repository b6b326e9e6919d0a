//! The device cgroup on cgroup v2: a `BPF_PROG_TYPE_CGROUP_DEVICE` program, emitted here from
//! a [`DeviceCgroup`] and attached to the container's cgroup with raw bpf(2) calls (no
//! libbpf). The program's shape follows runc's libcontainer/cgroups/devices/ebpf: load the
//! request (type, access, major, minor) into registers, one block per exception that returns
//! the opposite of the default when it matches, the default last.
//!
//! The context is `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! (include/uapi/linux/bpf.h), `access_type` being `access << 16 | type`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::device_rules::{DeviceCgroup, Exception};

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Insn {
    code: u8,
    /// dst in the low nibble, src in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

// Opcodes (include/uapi/linux/bpf_common.h, bpf.h).
const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const ALU32_AND_K: u8 = 0x54;
const ALU32_RSH_K: u8 = 0x74;
const ALU64_MOV_K: u8 = 0xb7;
const ALU64_MOV_X: u8 = 0xbf;
const JMP_JNE_K: u8 = 0x55;
const JMP_JEQ_K: u8 = 0x15;
const JMP_JSET_K: u8 = 0x45;
const EXIT: u8 = 0x95;

// Registers: R1 the context (then a scratch), R2 type, R3 access, R4 major, R5 minor.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

const BPF_DEVCG_DEV_BLOCK: i32 = 1;
const BPF_DEVCG_DEV_CHAR: i32 = 2;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// The program enforcing `cg`.
pub(crate) fn program(cg: &DeviceCgroup) -> Vec<Insn> {
    let mut prog = vec![
        insn(LDX_MEM_W, R2, R1, 0, 0),
        insn(ALU32_AND_K, R2, 0, 0, 0xffff),
        insn(LDX_MEM_W, R3, R1, 0, 0),
        insn(ALU32_RSH_K, R3, 0, 0, 16),
        insn(LDX_MEM_W, R4, R1, 4, 0),
        insn(LDX_MEM_W, R5, R1, 8, 0),
    ];
    for e in &cg.exceptions {
        prog.extend(block(e, !cg.default_allow));
    }
    prog.push(insn(ALU64_MOV_K, R0, 0, 0, i32::from(cg.default_allow)));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}

/// Returns `allow` when the request matches `e`; else falls through to the next block. An
/// allow needs every requested access in the exception (the kernel's `match_exception`), a
/// deny any of them (`match_exception_partial`).
fn block(e: &Exception, allow: bool) -> Vec<Insn> {
    // Each `JNE`-style test jumps to the block's end; offsets are patched once its length is
    // known (`off` is counted from the next instruction).
    let mut tests: Vec<Insn> = Vec::new();
    match e.kind {
        b'c' => tests.push(insn(JMP_JNE_K, R2, 0, 0, BPF_DEVCG_DEV_CHAR)),
        b'b' => tests.push(insn(JMP_JNE_K, R2, 0, 0, BPF_DEVCG_DEV_BLOCK)),
        _ => {}
    }
    let access = i32::from(e.access.bits());
    if allow && access != 7 {
        // Any requested bit outside the exception: no match.
        tests.push(insn(JMP_JSET_K, R3, 0, 0, !access & 7));
    } else if !allow {
        tests.push(insn(ALU64_MOV_X, R1, R3, 0, 0));
        tests.push(insn(ALU32_AND_K, R1, 0, 0, access));
        tests.push(insn(JMP_JEQ_K, R1, 0, 0, 0));
    }
    if let Some(major) = e.major {
        tests.push(insn(JMP_JNE_K, R4, 0, 0, major as i32));
    }
    if let Some(minor) = e.minor {
        tests.push(insn(JMP_JNE_K, R5, 0, 0, minor as i32));
    }
    tests.push(insn(ALU64_MOV_K, R0, 0, 0, i32::from(allow)));
    tests.push(insn(EXIT, 0, 0, 0, 0));
    let len = tests.len();
    for (i, t) in tests.iter_mut().enumerate() {
        if matches!(t.code, JMP_JNE_K | JMP_JEQ_K | JMP_JSET_K) {
            t.off = (len - i - 1) as i16;
        }
    }
    tests
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// `union bpf_attr`, as much of it as these two commands use (the kernel requires the rest
/// of what it knows to be zero, which a shorter size given to it guarantees).
#[repr(C, align(8))]
struct Attr([u32; 16]);

fn bpf(cmd: libc::c_long, attr: &mut Attr) -> io::Result<libc::c_long> {
    // SAFETY: attr is a valid, initialised bpf_attr prefix of the size passed; the kernel
    // reads it and the memory it points to (instructions, license), which outlive the call.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut Attr, std::mem::size_of::<Attr>()) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Loads `prog`; the verifier's log comes back in the error on failure.
pub(crate) fn load(prog: &[Insn]) -> io::Result<OwnedFd> {
    let license = c"Apache-2.0";
    let mut log = vec![0u8; 64 * 1024];
    let mut attr = Attr([0; 16]);
    let insns = prog.as_ptr() as u64;
    let license_ptr = license.as_ptr() as u64;
    let log_ptr = log.as_mut_ptr() as u64;
    attr.0[0] = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.0[1] = prog.len() as u32;
    [attr.0[2], attr.0[3]] = split(insns);
    [attr.0[4], attr.0[5]] = split(license_ptr);
    attr.0[6] = 1; // log_level
    attr.0[7] = log.len() as u32;
    [attr.0[8], attr.0[9]] = split(log_ptr);
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: the kernel returned a new fd that nothing else owns.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            Err(io::Error::new(e.kind(), format!("{e}; verifier: {}", text.trim())))
        }
    }
}

/// A u64 as the two u32 words of an `__aligned_u64` field, in memory order.
fn split(v: u64) -> [u32; 2] {
    let b = v.to_ne_bytes();
    [
        u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
    ]
}

/// Attaches `prog` to the cgroup `cgroup` (a directory fd) with `BPF_F_ALLOW_MULTI`: the
/// programs of the ancestors run too, and all must allow. The kernel keeps the program
/// while the cgroup lives; the fd may be closed.
pub(crate) fn attach(cgroup: &impl AsRawFd, prog: &OwnedFd) -> io::Result<()> {
    let mut attr = Attr([0; 16]);
    attr.0[0] = cgroup.as_raw_fd() as u32;
    attr.0[1] = prog.as_raw_fd() as u32;
    attr.0[2] = BPF_CGROUP_DEVICE;
    attr.0[3] = BPF_F_ALLOW_MULTI;
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

#[cfg(test)]
mod tests {
    use super::super::device_rules::{DeviceAccess, DeviceRule, DeviceType};
    use super::*;

    #[test]
    fn blocks_jump_to_their_end() {
        let cg = DeviceCgroup::from_rules(&[
            DeviceRule::deny_all(),
            DeviceRule::allow(DeviceType::Char, Some(1), Some(3), DeviceAccess::parse("rw").unwrap()),
        ]);
        let prog = program(&cg);
        // 6 loads, one block of 6 (type, access, major, minor, mov, exit), the default.
        assert_eq!(prog.len(), 6 + 6 + 2);
        assert_eq!(prog[6], insn(JMP_JNE_K, R2, 0, 5, BPF_DEVCG_DEV_CHAR));
        assert_eq!(prog[7], insn(JMP_JSET_K, R3, 0, 4, 1), "mknod asked: no match");
        assert_eq!(prog[10], insn(ALU64_MOV_K, R0, 0, 0, 1));
        assert_eq!(prog[12], insn(ALU64_MOV_K, R0, 0, 0, 0), "the default: deny");
        assert_eq!(prog[13], insn(EXIT, 0, 0, 0, 0));
    }
}

/// The program against the kernel: loaded, attached to a fresh v2 cgroup, and a shell moved
/// into it may open /dev/null but not /dev/zero. Runs wherever a cgroup2 is mounted (on a
/// hybrid host too: the kernel asks the attached programs before the v1 controller).
#[cfg(test)]
mod kernel_tests {
    use super::super::device_rules::{DeviceAccess, DeviceRule, DeviceType};
    use super::*;

    #[test]
    fn attached_program_allows_only_its_rules() {
        let is_root = nix::unistd::geteuid().is_root();
        let layout = super::super::Layout::detect().unwrap();
        let Some(v2) = layout.v2.as_ref().filter(|_| is_root) else {
            assert!(
                std::env::var_os("NSBOX_REQUIRE_ALL").is_none_or(|v| v != "1"),
                "NSBOX_REQUIRE_ALL=1: needs root and a cgroup2 mount"
            );
            eprintln!("SKIP: needs root and a cgroup2 mount");
            return;
        };
        let parent = super::super::layout::dir_of(&v2.mountpoint, &v2.root, &v2.own);
        let dir = parent.join(format!("nsbox-bpf-test-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        let cg = DeviceCgroup::from_rules(&[
            DeviceRule::deny_all(),
            DeviceRule::allow(DeviceType::Char, Some(1), Some(3), DeviceAccess::ALL),
            DeviceRule::allow(DeviceType::Char, Some(1), Some(7), DeviceAccess::READ),
        ]);
        let attached = load(&program(&cg)).and_then(|prog| attach(&std::fs::File::open(&dir)?, &prog));
        let script = format!(
            "echo $$ > {}/cgroup.procs || exit 9; \
             head -c1 /dev/null && echo null; head -c1 /dev/zero >/dev/null 2>&1 || echo no-zero; \
             head -c1 /dev/full >/dev/null && echo read-full; echo x 2>/dev/null >/dev/full || echo no-write-full",
            dir.display()
        );
        let out = attached.and_then(|()| std::process::Command::new("/bin/sh").args(["-c", &script]).output());
        let _ = std::fs::remove_dir(&dir);
        let out = out.unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "null\nno-zero\nread-full\nno-write-full\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
