//! Compact seccomp programs: architecture check, the few syscalls with argument rules or their
//! own errno, then the listed syscall numbers as sorted ranges.
//!
//! seccompiler compiles Docker's profile to a linear chain of ~1,500 instructions, which costs
//! ~0.7 ms to load per container and is walked on every syscall the payload makes. Ranges of
//! allowed numbers (about 60 on x86_64) need ~150 instructions; libseccomp, which crun uses,
//! optimises the same way (a tree over syscall numbers).

use std::collections::BTreeSet;

#[cfg(test)]
pub(crate) mod interpreter;

/// One classic BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// A compiled program, as the kernel takes it.
pub(crate) type Program = Vec<SockFilter>;

/// BPF_LD | BPF_W | BPF_ABS (LD and W are 0).
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_ALU_AND_K: u16 = 0x04 | 0x50;
const BPF_JMP_JA: u16 = 0x05;
const BPF_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JGT_K: u16 = 0x05 | 0x20;
const BPF_JGE_K: u16 = 0x05 | 0x30;
const BPF_RET_K: u16 = 0x06;

pub(crate) const RET_ALLOW: u32 = 0x7fff_0000;
pub(crate) const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_ERRNO: u32 = 0x0005_0000;

/// The return value that fails a syscall with `errno`.
pub(crate) const fn errno(errno: u32) -> u32 {
    RET_ERRNO | (errno & 0xffff)
}

/// `struct seccomp_data` offsets.
const NR: u32 = 0;
const ARCH: u32 = 4;
const fn arg_low(index: u8) -> u32 {
    16 + 8 * index as u32
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 62 | 0x8000_0000 | 0x4000_0000;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 183 | 0x8000_0000 | 0x4000_0000;
/// x32 syscalls on x86_64 report the x86_64 arch with this bit set in nr. Every nr at or above
/// it (x32, and numbers no x86_64 syscall has) is killed like another architecture's, as
/// libseccomp's bad-arch action does: a deny list's default, allow, must not reach them.
#[cfg(target_arch = "x86_64")]
const X32_BIT: Option<u32> = Some(0x4000_0000);
#[cfg(not(target_arch = "x86_64"))]
const X32_BIT: Option<u32> = None;

/// A comparison of the low 32 bits of a syscall argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cond {
    /// `arg == value`
    Eq(u8, u32),
    /// `arg != value`
    Ne(u8, u32),
    /// `arg & mask == value`
    MaskedEq(u8, u32, u32),
}

/// What the program does with one syscall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Allowed if any rule (all its conditions) holds; else the default.
    AllowIf(Vec<Vec<Cond>>),
    /// Returns this (see [`errno`], [`RET_ALLOW`]).
    Return(u32),
    /// Returns the value if any rule (all its conditions) holds; else allowed, whatever the
    /// default: a deny list can refuse some uses of a syscall it otherwise lets through.
    ReturnIf(Vec<Vec<Cond>>, u32),
}

/// A program: `listed` syscalls get `on_listed`, `special` ones their [`Action`], all others
/// `default`; other architectures and x32 syscalls are killed.
pub(crate) fn program(
    listed: &BTreeSet<u32>,
    on_listed: u32,
    special: &[(u32, Action)],
    default: u32,
) -> Result<Program, String> {
    let mut a = Assembler::default();
    let deny = a.label();
    let listed_label = a.label();
    // The kills are inline, so no jump to them can be too far whatever the lists hold.
    let native = a.label();
    a.load(ARCH);
    a.jump_if(BPF_JEQ_K, AUDIT_ARCH, Some(native), None);
    a.ret(RET_KILL_PROCESS);
    a.bind(native);
    a.load(NR);
    if let Some(bit) = X32_BIT {
        let not_x32 = a.label();
        a.jump_if(BPF_JGE_K, bit, None, Some(not_x32));
        a.ret(RET_KILL_PROCESS);
        a.bind(not_x32);
    }
    let blocks: Vec<Label> = special.iter().map(|_| a.label()).collect();
    for ((nr, _), block) in special.iter().zip(&blocks) {
        a.jump_if(BPF_JEQ_K, *nr, Some(*block), None);
    }
    for (lo, hi) in ranges(listed.iter().copied().filter(|n| !special.iter().any(|(s, _)| s == n))) {
        let next = a.label();
        a.jump_if(BPF_JGT_K, hi, Some(next), None);
        a.jump_if(BPF_JGE_K, lo, Some(listed_label), Some(deny));
        a.bind(next);
    }
    a.jump(deny);
    a.bind(listed_label);
    a.ret(on_listed);
    a.bind(deny);
    a.ret(default);
    for ((_, action), block) in special.iter().zip(blocks) {
        a.bind(block);
        match action {
            Action::Return(value) => a.ret(*value),
            Action::AllowIf(rules) => a.rules(rules, RET_ALLOW, default),
            Action::ReturnIf(rules, value) => a.rules(rules, *value, RET_ALLOW),
        }
    }
    a.finish()
}

/// Sorted numbers folded into inclusive ranges.
fn ranges(numbers: impl Iterator<Item = u32>) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for n in numbers {
        match out.last_mut() {
            Some((_, hi)) if *hi + 1 == n => *hi = n,
            _ => out.push((n, n)),
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Label(usize);

enum Insn {
    Plain(SockFilter),
    /// Conditional jump; `None` falls through to the next instruction.
    Jump {
        code: u16,
        k: u32,
        jt: Option<Label>,
        jf: Option<Label>,
    },
    /// Unconditional jump (32-bit offset).
    Always(Label),
}

/// Two passes: instructions with symbolic labels, then offsets. Conditional jumps reach 255
/// instructions ahead at most; `finish` fails rather than emit a wrong program.
#[derive(Default)]
struct Assembler {
    insns: Vec<Insn>,
    labels: Vec<Option<usize>>,
}

impl Assembler {
    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }
    fn bind(&mut self, label: Label) {
        self.labels[label.0] = Some(self.insns.len());
    }
    fn plain(&mut self, code: u16, k: u32) {
        self.insns.push(Insn::Plain(SockFilter { code, jt: 0, jf: 0, k }));
    }
    fn load(&mut self, offset: u32) {
        self.plain(BPF_LD_W_ABS, offset);
    }
    fn and(&mut self, mask: u32) {
        self.plain(BPF_ALU_AND_K, mask);
    }
    fn ret(&mut self, value: u32) {
        self.plain(BPF_RET_K, value);
    }
    fn jump_if(&mut self, code: u16, k: u32, jt: Option<Label>, jf: Option<Label>) {
        self.insns.push(Insn::Jump { code, k, jt, jf });
    }
    fn jump(&mut self, to: Label) {
        self.insns.push(Insn::Always(to));
    }
    /// Returns `matched` if any rule (all its conditions) holds, else `otherwise`.
    fn rules(&mut self, rules: &[Vec<Cond>], matched: u32, otherwise: u32) {
        for rule in rules {
            let next_rule = self.label();
            for cond in rule {
                match *cond {
                    Cond::Eq(arg, v) => {
                        self.load(arg_low(arg));
                        self.jump_if(BPF_JEQ_K, v, None, Some(next_rule));
                    }
                    Cond::Ne(arg, v) => {
                        self.load(arg_low(arg));
                        self.jump_if(BPF_JEQ_K, v, Some(next_rule), None);
                    }
                    Cond::MaskedEq(arg, mask, v) => {
                        self.load(arg_low(arg));
                        self.and(mask);
                        self.jump_if(BPF_JEQ_K, v, None, Some(next_rule));
                    }
                }
            }
            self.ret(matched);
            self.bind(next_rule);
        }
        self.ret(otherwise);
    }
    fn finish(self) -> Result<Program, String> {
        let target = |label: Label| self.labels[label.0].ok_or("unbound label");
        let mut out = Vec::with_capacity(self.insns.len());
        for (at, insn) in self.insns.iter().enumerate() {
            let offset = |label: Option<Label>| -> Result<u32, String> {
                match label {
                    None => Ok(0),
                    Some(l) => {
                        let to = target(l)?;
                        to.checked_sub(at + 1)
                            .map(|o| o as u32)
                            .ok_or_else(|| "backward jump".to_string())
                    }
                }
            };
            out.push(match insn {
                Insn::Plain(f) => *f,
                Insn::Jump { code, k, jt, jf } => {
                    let (jt, jf) = (offset(*jt)?, offset(*jf)?);
                    if jt > 255 || jf > 255 {
                        return Err(format!("jump of {} instructions at {at}", jt.max(jf)));
                    }
                    SockFilter {
                        code: *code,
                        jt: jt as u8,
                        jf: jf as u8,
                        k: *k,
                    }
                }
                Insn::Always(l) => SockFilter {
                    code: BPF_JMP_JA,
                    jt: 0,
                    jf: 0,
                    k: offset(Some(*l))?,
                },
            });
        }
        if out.len() > 4096 {
            return Err(format!("{} instructions, more than the kernel's 4096", out.len()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_fold_neighbours() {
        assert_eq!(ranges([1, 2, 3, 5, 7, 8].into_iter()), [(1, 3), (5, 5), (7, 8)]);
    }

    #[test]
    fn far_conditional_jumps_are_refused_not_truncated() {
        let allowed: BTreeSet<u32> = (0..2000).step_by(2).collect();
        let special = [(1, Action::AllowIf(vec![vec![Cond::Eq(0, 1)]]))];
        assert!(program(&allowed, RET_ALLOW, &special, errno(1)).is_err());
    }
}
