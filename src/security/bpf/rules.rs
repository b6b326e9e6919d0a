//! Rule policies to BPF: per architecture a binary search over syscall numbers whose leaves
//! return an action, or jump to the syscall's rules, tried in order.
//!
//! Layout (x86_64 with both compat architectures):
//!
//! ```text
//! ld arch; x86_64? → native; i386? → i386 section; else kill
//! native: ld nr; nr >= X32 bit? → x32 section (or kill); search tree over native numbers
//! ```
//!
//! Every conditional jump of the tree skips forward; the assembler relays the far ones through
//! unconditional jumps, so no profile is too long for the 8-bit offsets.

use std::collections::BTreeMap;

use super::{
    AUDIT_ARCH, AUDIT_ARCH_I386, Assembler, BPF_JEQ_K, BPF_JGE_K, BPF_JGT_K, Label, NR, Program, RET_KILL_PROCESS,
    X32_BIT, arg_high, arg_low,
};
use crate::security::seccomp_rules::Compare;

/// One argument test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Test {
    pub(crate) index: u8,
    pub(crate) compare: Compare,
    pub(crate) value: u64,
    /// Both 32-bit halves (64-bit architectures); else the low half of argument and value.
    pub(crate) wide: bool,
}

/// Returns `ret` when every test holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) tests: Vec<Test>,
    pub(crate) ret: u32,
}

/// One architecture's syscalls (by the number it passes) and their rules, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Section {
    pub(crate) syscalls: BTreeMap<u32, Vec<Rule>>,
    pub(crate) default: u32,
}

/// The architectures a program handles; the others are killed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sections {
    pub(crate) native: Section,
    pub(crate) i386: Option<Section>,
    pub(crate) x32: Option<Section>,
}

/// What a number range leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaf {
    Ret(u32),
    Rules(Label),
}

pub(crate) fn program(sections: &Sections, flags: u32) -> Result<Program, String> {
    let mut a = Assembler::default();
    let native = a.label();
    a.load(super::ARCH);
    a.jump_if(BPF_JEQ_K, AUDIT_ARCH, Some(native), None);
    let i386 = sections.i386.as_ref().map(|section| {
        let label = a.label();
        a.jump_if(BPF_JEQ_K, AUDIT_ARCH_I386, Some(label), None);
        (label, section)
    });
    a.ret(RET_KILL_PROCESS);
    a.bind(native);
    a.load(NR);
    let x32 = match X32_BIT {
        Some(bit) => {
            let x32 = a.label();
            a.jump_if(BPF_JGE_K, bit, Some(x32), None);
            Some((x32, bit))
        }
        None => None,
    };
    section(&mut a, &sections.native);
    if let Some((label, bit)) = x32 {
        a.bind(label);
        match &sections.x32 {
            Some(s) => section_from(&mut a, s, bit),
            None => a.ret(RET_KILL_PROCESS),
        }
    }
    if let Some((label, s)) = i386 {
        a.bind(label);
        a.load(NR);
        section(&mut a, s);
    }
    a.finish().map(|insns| Program { insns, flags })
}

fn section(a: &mut Assembler, s: &Section) {
    section_from(a, s, 0)
}

/// A section whose numbers (in the accumulator) are all at least `low`.
fn section_from(a: &mut Assembler, s: &Section, low: u32) {
    let mut leaves: Vec<(u32, Leaf)> = Vec::new();
    let mut blocks = Vec::new();
    let mut next: u64 = low as u64;
    // Neighbouring ranges returning the same value are one leaf.
    let push = |leaves: &mut Vec<(u32, Leaf)>, start: u32, leaf: Leaf| match leaves.last() {
        Some((_, last)) if *last == leaf && matches!(leaf, Leaf::Ret(_)) => {}
        _ => leaves.push((start, leaf)),
    };
    for (nr, rules) in s.syscalls.range(low..) {
        if (*nr as u64) > next {
            push(&mut leaves, next as u32, Leaf::Ret(s.default));
        }
        let leaf = match rules.first() {
            None => Leaf::Ret(s.default),
            Some(first) if first.tests.is_empty() => Leaf::Ret(first.ret),
            Some(_) => {
                let label = a.label();
                blocks.push((label, rules));
                Leaf::Rules(label)
            }
        };
        push(&mut leaves, *nr, leaf);
        next = *nr as u64 + 1;
    }
    if next <= u32::MAX as u64 {
        push(&mut leaves, next as u32, Leaf::Ret(s.default));
    }
    tree(a, &leaves);
    for (label, rules) in blocks {
        a.bind(label);
        rule_block(a, rules, s.default);
    }
}

/// A search over `leaves` (sorted starts; each covers up to the next start).
fn tree(a: &mut Assembler, leaves: &[(u32, Leaf)]) {
    match leaves {
        [] => {}
        [(_, Leaf::Ret(value))] => a.ret(*value),
        [(_, Leaf::Rules(label))] => a.jump(*label),
        _ => {
            let mid = leaves.len() / 2;
            let upper = a.label();
            a.jump_if(BPF_JGE_K, leaves[mid].0, Some(upper), None);
            tree(a, &leaves[..mid]);
            a.bind(upper);
            tree(a, &leaves[mid..]);
        }
    }
}

/// The first rule whose tests all hold returns its value; none: `default`.
fn rule_block(a: &mut Assembler, rules: &[Rule], default: u32) {
    for rule in rules {
        let next_rule = a.label();
        for test in &rule.tests {
            arg_test(a, test, next_rule);
        }
        a.ret(rule.ret);
        if rule.tests.is_empty() {
            // Later rules are unreachable.
            return;
        }
        a.bind(next_rule);
    }
    a.ret(default);
}

/// Falls through when the test holds, jumps to `fail` when not. 64-bit unsigned compares are
/// made on the high halves first, then on the low ones when the high halves are equal.
fn arg_test(a: &mut Assembler, t: &Test, fail: Label) {
    let (high, low) = ((t.value >> 32) as u32, t.value as u32);
    let (pass, f) = (a.label(), Some(fail));
    let load_high = |a: &mut Assembler| a.load(arg_high(t.index));
    if let Compare::MaskedEq(mask) = t.compare {
        if t.wide {
            load_high(a);
            a.and((mask >> 32) as u32);
            a.jump_if(BPF_JEQ_K, high, None, f);
        }
        a.load(arg_low(t.index));
        a.and(mask as u32);
        a.jump_if(BPF_JEQ_K, low, None, f);
        return;
    }
    if t.wide {
        load_high(a);
        // Decided by the high halves unless they are equal.
        match t.compare {
            Compare::Eq => a.jump_if(BPF_JEQ_K, high, None, f),
            Compare::Ne => a.jump_if(BPF_JEQ_K, high, None, Some(pass)),
            Compare::Gt | Compare::Ge => {
                a.jump_if(BPF_JGT_K, high, Some(pass), None);
                a.jump_if(BPF_JEQ_K, high, None, f);
            }
            Compare::Lt | Compare::Le => {
                a.jump_if(BPF_JGT_K, high, f, None);
                a.jump_if(BPF_JEQ_K, high, None, Some(pass));
            }
            Compare::MaskedEq(_) => unreachable!("handled above"),
        }
    }
    a.load(arg_low(t.index));
    match t.compare {
        Compare::Eq => a.jump_if(BPF_JEQ_K, low, None, f),
        Compare::Ne => a.jump_if(BPF_JEQ_K, low, f, None),
        Compare::Gt => a.jump_if(BPF_JGT_K, low, None, f),
        Compare::Ge => a.jump_if(BPF_JGE_K, low, None, f),
        Compare::Lt => a.jump_if(BPF_JGE_K, low, f, None),
        Compare::Le => a.jump_if(BPF_JGT_K, low, f, None),
        Compare::MaskedEq(_) => unreachable!("handled above"),
    }
    a.bind(pass);
}

#[cfg(test)]
mod tests {
    use super::super::interpreter::{SeccompData, run};
    use super::*;

    fn one_rule(compare: Compare, value: u64, wide: bool) -> Program {
        let test = Test {
            index: 1,
            compare,
            value,
            wide,
        };
        let mut native = Section {
            default: 2,
            ..Default::default()
        };
        native.syscalls.insert(
            7,
            vec![Rule {
                tests: vec![test],
                ret: 1,
            }],
        );
        program(
            &Sections {
                native,
                ..Default::default()
            },
            0,
        )
        .unwrap()
    }

    #[test]
    fn sixty_four_bit_compares_agree_with_rust_on_both_halves() {
        let values = [
            0,
            1,
            7,
            0xffff_ffff,
            0x1_0000_0000,
            0x1_0000_0007,
            0x2_0000_0000,
            u64::MAX,
        ];
        type Op = fn(u64, u64) -> bool;
        let ops: [(Compare, Op); 6] = [
            (Compare::Eq, |a, b| a == b),
            (Compare::Ne, |a, b| a != b),
            (Compare::Lt, |a, b| a < b),
            (Compare::Le, |a, b| a <= b),
            (Compare::Gt, |a, b| a > b),
            (Compare::Ge, |a, b| a >= b),
        ];
        for (compare, op) in ops {
            for value in values {
                let p = one_rule(compare, value, true);
                for arg in values {
                    let got = run(&p, &SeccompData::native(7, &[0, arg]));
                    let want = if op(arg, value) { 1 } else { 2 };
                    assert_eq!(got, want, "{arg:#x} {compare:?} {value:#x}");
                }
            }
        }
        let p = one_rule(Compare::MaskedEq(0xf_0000_00f0), 0x1_0000_0010, true);
        for (arg, want) in [(0x1_0000_0010, 1), (0xff1_ffff_ff1f, 1), (0x10, 2), (0x1_0000_0020, 2)] {
            assert_eq!(run(&p, &SeccompData::native(7, &[0, arg])), want, "{arg:#x}");
        }
    }

    #[test]
    fn narrow_compares_use_the_low_halves() {
        let p = one_rule(Compare::Eq, 0x1_0000_0008, false);
        assert_eq!(run(&p, &SeccompData::native(7, &[0, 8])), 1);
        assert_eq!(run(&p, &SeccompData::native(7, &[0, 0x5_0000_0008])), 1);
        assert_eq!(run(&p, &SeccompData::native(7, &[0, 9])), 2);
    }

    #[test]
    fn rules_are_tried_in_order_and_the_first_match_wins() {
        let t = |value| Test {
            index: 0,
            compare: Compare::Eq,
            value,
            wide: true,
        };
        let mut native = Section {
            default: 9,
            ..Default::default()
        };
        native.syscalls.insert(
            3,
            vec![
                Rule {
                    tests: vec![t(1), Test { index: 1, ..t(2) }],
                    ret: 1,
                },
                Rule {
                    tests: vec![t(1)],
                    ret: 2,
                },
                Rule { tests: vec![], ret: 3 },
                Rule {
                    tests: vec![t(5)],
                    ret: 4,
                },
            ],
        );
        native.syscalls.insert(
            4,
            vec![Rule {
                tests: vec![t(1)],
                ret: 5,
            }],
        );
        let p = program(
            &Sections {
                native,
                ..Default::default()
            },
            0,
        )
        .unwrap();
        let answer = |nr, args: &[u64]| run(&p, &SeccompData::native(nr, args));
        assert_eq!(answer(3, &[1, 2]), 1);
        assert_eq!(answer(3, &[1, 3]), 2);
        assert_eq!(answer(3, &[5]), 3);
        assert_eq!(answer(4, &[1]), 5);
        assert_eq!(answer(4, &[2]), 9);
        assert_eq!(answer(2, &[]), 9);
        assert_eq!(answer(u32::MAX >> 2, &[]), 9);
    }

    #[test]
    fn a_thousand_syscalls_with_rules_make_a_program_of_relayed_jumps() {
        let mut native = Section {
            default: 9,
            ..Default::default()
        };
        for nr in (0..1000).step_by(3) {
            let test = Test {
                index: 0,
                compare: Compare::Eq,
                value: nr as u64,
                wide: true,
            };
            native.syscalls.insert(
                nr,
                vec![Rule {
                    tests: vec![test],
                    ret: nr,
                }],
            );
        }
        native.syscalls.insert(1, vec![Rule { tests: vec![], ret: 1 }]);
        let p = program(
            &Sections {
                native,
                ..Default::default()
            },
            0,
        )
        .unwrap();
        assert!(p.len() > 1000, "{}", p.len());
        for nr in (0..1000).step_by(3) {
            assert_eq!(run(&p, &SeccompData::native(nr, &[nr as u64])), nr);
            assert_eq!(run(&p, &SeccompData::native(nr, &[nr as u64 + 1])), 9);
        }
        assert_eq!(run(&p, &SeccompData::native(1, &[])), 1);
        assert_eq!(run(&p, &SeccompData::native(2, &[])), 9);
    }
}
