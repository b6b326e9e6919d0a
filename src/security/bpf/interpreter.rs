//! A classic-BPF interpreter for the instructions the assembler emits, run on a crafted
//! `struct seccomp_data`: lets unit tests check what a compiled policy answers for syscalls
//! this kernel cannot make (x32, another architecture) without loading it.
//!
//! It is strict where the kernel's checker is (`seccomp_check_filter`): an unknown opcode, a
//! load outside `seccomp_data` or not 4-byte aligned, or running off the end panics.

use super::{BPF_ALU_AND_K, BPF_JEQ_K, BPF_JGE_K, BPF_JGT_K, BPF_JMP_JA, BPF_LD_W_ABS, BPF_RET_K, SockFilter};

/// `struct seccomp_data` (see seccomp(2)).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SeccompData {
    pub(crate) nr: u32,
    pub(crate) arch: u32,
    pub(crate) instruction_pointer: u64,
    pub(crate) args: [u64; 6],
}

impl SeccompData {
    /// A syscall of this architecture (as the kernel reports a native one).
    pub(crate) fn native(nr: u32, args: &[u64]) -> Self {
        let mut data = SeccompData {
            nr,
            arch: super::AUDIT_ARCH,
            ..Default::default()
        };
        data.args[..args.len()].copy_from_slice(args);
        data
    }

    /// The 64 bytes the filter reads, in the machine's byte order.
    fn bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[0..4].copy_from_slice(&self.nr.to_ne_bytes());
        out[4..8].copy_from_slice(&self.arch.to_ne_bytes());
        out[8..16].copy_from_slice(&self.instruction_pointer.to_ne_bytes());
        for (i, arg) in self.args.iter().enumerate() {
            out[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_ne_bytes());
        }
        out
    }
}

/// What `program` returns for `data`.
pub(crate) fn run(program: &[SockFilter], data: &SeccompData) -> u32 {
    let bytes = data.bytes();
    let (mut pc, mut acc) = (0usize, 0u32);
    loop {
        let insn = program
            .get(pc)
            .unwrap_or_else(|| panic!("ran off the end of a {}-instruction program", program.len()));
        pc += 1;
        let conditional = |taken: bool| if taken { insn.jt } else { insn.jf } as usize;
        match insn.code {
            BPF_LD_W_ABS => {
                let at = insn.k as usize;
                assert!(at.is_multiple_of(4) && at + 4 <= bytes.len(), "load at {at}");
                acc = u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
            }
            BPF_ALU_AND_K => acc &= insn.k,
            BPF_JMP_JA => pc += insn.k as usize,
            BPF_JEQ_K => pc += conditional(acc == insn.k),
            BPF_JGT_K => pc += conditional(acc > insn.k),
            BPF_JGE_K => pc += conditional(acc >= insn.k),
            BPF_RET_K => return insn.k,
            code => panic!("opcode {code:#x} at {} is not one the assembler emits", pc - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u16, jt: u8, jf: u8, k: u32) -> SockFilter {
        SockFilter { code, jt, jf, k }
    }

    #[test]
    fn interpreter_follows_loads_masks_and_both_jump_branches() {
        // ret 1 if arg1's low half & 0xff == 0x12, ret 2 if nr > 7, else ret 3.
        let program = [
            insn(BPF_LD_W_ABS, 0, 0, 24),
            insn(BPF_ALU_AND_K, 0, 0, 0xff),
            insn(BPF_JEQ_K, 0, 1, 0x12),
            insn(BPF_RET_K, 0, 0, 1),
            insn(BPF_LD_W_ABS, 0, 0, 0),
            insn(BPF_JGT_K, 1, 0, 7),
            insn(BPF_JMP_JA, 0, 0, 1),
            insn(BPF_RET_K, 0, 0, 2),
            insn(BPF_RET_K, 0, 0, 3),
        ];
        let run_with = |nr, arg1| run(&program, &SeccompData::native(nr, &[0, arg1]));
        assert_eq!(run_with(0, 0xab12), 1);
        assert_eq!(run_with(8, 0xab13), 2);
        assert_eq!(run_with(7, 0x1_0000_0013), 3);
    }
}
