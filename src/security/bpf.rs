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
pub(crate) mod rules;

/// One classic BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// A compiled program, as the kernel takes it, and the `SECCOMP_FILTER_FLAG_*` bits to load it
/// with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Program {
    insns: Vec<SockFilter>,
    flags: u32,
}

impl Program {
    /// The flags for `seccomp(SECCOMP_SET_MODE_FILTER, flags, ..)`.
    pub(crate) fn flags(&self) -> u32 {
        self.flags
    }
}

impl std::ops::Deref for Program {
    type Target = [SockFilter];
    fn deref(&self) -> &[SockFilter] {
        &self.insns
    }
}

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
pub(crate) const RET_KILL_THREAD: u32 = 0;
pub(crate) const RET_TRAP: u32 = 0x0003_0000;
pub(crate) const RET_ERRNO: u32 = 0x0005_0000;
pub(crate) const RET_TRACE: u32 = 0x7ff0_0000;
pub(crate) const RET_LOG: u32 = 0x7ffc_0000;

/// The return value that fails a syscall with `errno`.
pub(crate) const fn errno(errno: u32) -> u32 {
    RET_ERRNO | (errno & 0xffff)
}

/// `struct seccomp_data` offsets.
const NR: u32 = 0;
const ARCH: u32 = 4;
#[cfg(target_endian = "little")]
const fn arg_low(index: u8) -> u32 {
    16 + 8 * index as u32
}
#[cfg(target_endian = "little")]
const fn arg_high(index: u8) -> u32 {
    20 + 8 * index as u32
}
#[cfg(target_endian = "big")]
const fn arg_low(index: u8) -> u32 {
    20 + 8 * index as u32
}
#[cfg(target_endian = "big")]
const fn arg_high(index: u8) -> u32 {
    16 + 8 * index as u32
}

#[cfg(target_arch = "x86_64")]
pub(crate) const AUDIT_ARCH: u32 = 62 | 0x8000_0000 | 0x4000_0000;
#[cfg(target_arch = "aarch64")]
pub(crate) const AUDIT_ARCH: u32 = 183 | 0x8000_0000 | 0x4000_0000;
/// i386 (`AUDIT_ARCH_I386`), the compat architecture of x86_64.
pub(crate) const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
/// x32 syscalls on x86_64 report the x86_64 arch with this bit set in nr. Every nr at or above
/// it (x32, and numbers no x86_64 syscall has) is killed like another architecture's, as
/// libseccomp's bad-arch action does: a deny list's default, allow, must not reach them.
#[cfg(target_arch = "x86_64")]
pub(crate) const X32_BIT: Option<u32> = Some(0x4000_0000);
#[cfg(not(target_arch = "x86_64"))]
pub(crate) const X32_BIT: Option<u32> = None;

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
    a.finish().map(|insns| Program { insns, flags: 0 })
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
    /// Resolves the labels. A conditional jump reaches 255 instructions ahead at most: one
    /// whose target is further is relayed through unconditional jumps (32-bit offsets) placed
    /// right after it, found by growing such jumps until none is too far (a jump only ever
    /// grows, so this ends).
    fn finish(self) -> Result<Vec<SockFilter>, String> {
        // Per conditional jump: whether its true and false branches are relayed.
        let mut far = vec![(false, false); self.insns.len()];
        let addresses = loop {
            let mut addresses = Vec::with_capacity(self.insns.len() + 1);
            let mut next = 0usize;
            for (insn, (t, f)) in self.insns.iter().zip(&far) {
                addresses.push(next);
                next += 1 + matches!(insn, Insn::Jump { .. }) as usize * (*t as usize + *f as usize);
            }
            addresses.push(next);
            let label_at = |label: Label| -> Result<usize, String> {
                let index = self.labels[label.0].ok_or("unbound label")?;
                Ok(addresses[index])
            };
            let mut grew = false;
            for (i, insn) in self.insns.iter().enumerate() {
                if let Insn::Jump { jt, jf, .. } = insn {
                    let after = addresses[i] + 1;
                    let too_far = |l: &Option<Label>| -> Result<bool, String> {
                        Ok(match l {
                            Some(l) => label_at(*l)?.checked_sub(after).ok_or("backward jump")? > 255,
                            None => false,
                        })
                    };
                    let (t, f) = (too_far(jt)?, too_far(jf)?);
                    if (t && !far[i].0) || (f && !far[i].1) {
                        far[i] = (far[i].0 || t, far[i].1 || f);
                        grew = true;
                    }
                }
            }
            if !grew {
                break addresses;
            }
        };
        let target =
            |label: Label| -> Result<usize, String> { Ok(addresses[self.labels[label.0].ok_or("unbound label")?]) };
        let mut out = Vec::with_capacity(*addresses.last().unwrap_or(&0));
        for (i, insn) in self.insns.iter().enumerate() {
            let at = addresses[i];
            let after = at + 1;
            match insn {
                Insn::Plain(f) => out.push(*f),
                Insn::Jump { code, k, jt, jf } => {
                    let (t_far, f_far) = far[i];
                    let relays = t_far as usize + f_far as usize;
                    // A near branch's offset counts the relays it jumps over.
                    let near = |l: &Option<Label>| -> Result<usize, String> {
                        match l {
                            Some(l) => Ok(target(*l)? - after),
                            None => Ok(relays),
                        }
                    };
                    let jt_offset = if t_far { 0 } else { near(jt)? };
                    let jf_offset = if f_far { t_far as usize } else { near(jf)? };
                    if jt_offset > 255 || jf_offset > 255 {
                        return Err(format!("jump of {} instructions at {at}", jt_offset.max(jf_offset)));
                    }
                    out.push(SockFilter {
                        code: *code,
                        jt: jt_offset as u8,
                        jf: jf_offset as u8,
                        k: *k,
                    });
                    for (relayed, label) in [(t_far, jt), (f_far, jf)] {
                        if relayed {
                            let position = out.len();
                            let to = target(label.ok_or("relay without a label")?)?;
                            out.push(SockFilter {
                                code: BPF_JMP_JA,
                                jt: 0,
                                jf: 0,
                                k: (to - (position + 1)) as u32,
                            });
                        }
                    }
                }
                Insn::Always(l) => out.push(SockFilter {
                    code: BPF_JMP_JA,
                    jt: 0,
                    jf: 0,
                    k: target(*l)?.checked_sub(after).ok_or("backward jump")? as u32,
                }),
            }
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
    fn far_conditional_jumps_are_relayed_not_truncated() {
        use interpreter::{SeccompData, run};
        // 1,000 ranges put the special syscall's block ~2,000 instructions past its jump.
        let allowed: BTreeSet<u32> = (0..2000).step_by(2).collect();
        let special = [(1, Action::AllowIf(vec![vec![Cond::Eq(0, 1)]]))];
        let p = program(&allowed, RET_ALLOW, &special, errno(1)).unwrap();
        assert!(p.iter().any(|i| i.code == BPF_JMP_JA && i.k > 255));
        let answer = |nr, arg| run(&p, &SeccompData::native(nr, &[arg]));
        assert_eq!(answer(1, 1), RET_ALLOW);
        assert_eq!(answer(1, 2), errno(1));
        assert_eq!(answer(1998, 0), RET_ALLOW);
        assert_eq!(answer(1999, 0), errno(1));
        assert_eq!(answer(3, 0), errno(1));
    }

    #[test]
    fn programs_longer_than_the_kernel_takes_are_refused() {
        let allowed: BTreeSet<u32> = (0..10_000).step_by(2).collect();
        assert!(
            program(&allowed, RET_ALLOW, &[], errno(1))
                .unwrap_err()
                .contains("4096")
        );
    }
}
