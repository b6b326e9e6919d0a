//! Words that match the code: the step table of docs/architecture.md names every step the
//! child runs (src/plan/step.rs), and nothing else.

use std::collections::BTreeSet;

/// The variants of `enum Step` in src/plan/step.rs: lines indented by four spaces that start
/// with a capitalised name, between the enum's braces.
fn step_variants() -> BTreeSet<String> {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/plan/step.rs")).unwrap();
    let body = source
        .split("pub(crate) enum Step {")
        .nth(1)
        .expect("enum Step in step.rs");
    let body = &body[..body.find("\n}\n").expect("end of enum Step")];
    body.lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter(|l| l.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(|l| l.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap().to_owned())
        .collect()
}

/// The backticked names in the first column of the table under "## The steps, in plan order".
fn documented_steps() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/architecture.md")).unwrap();
    let section = doc
        .split("## The steps, in plan order")
        .nth(1)
        .expect("the steps section");
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .flat_map(|l| {
            let first = l.split('|').nth(1).unwrap_or("");
            first
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .map(|name| name.split(' ').next().unwrap().to_owned())
        .collect()
}

#[test]
fn architecture_step_table_names_every_step_and_only_steps() {
    let (code, doc) = (step_variants(), documented_steps());
    assert!(code.len() > 30, "parsed too few steps from step.rs: {code:?}");
    let missing: Vec<_> = code.difference(&doc).collect();
    let unknown: Vec<_> = doc.difference(&code).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/architecture.md's step table is out of date:\n  steps it lacks: {missing:?}\n  names that are no step: {unknown:?}"
    );
}
