//! The pooled launcher refuses a malformed message (a caller bug or a corrupted stream) with
//! the message step and EPROTO, and executes nothing: its parser is the one part of the init
//! binary that reads variable-length input. Needs root (it parks real containers).

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};

use super::template::Template;
use crate::ContainerBuilder;
use crate::pid1::protocol::{self, pool as wire};

fn root_or_skip() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var_os("NSBOX_REQUIRE_ALL").is_none_or(|v| v != "1"),
        "NSBOX_REQUIRE_ALL=1: needs root"
    );
    eprintln!("SKIP: needs root");
    false
}

/// Sends `message` with `fds` attached to a freshly parked container, returns its report.
fn report_for(template: &Template, message: &[u8], fds: &[OwnedFd]) -> (usize, (u32, i32)) {
    let parked = template.park().unwrap();
    let raw: Vec<i32> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let rights = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage] = if raw.is_empty() { &[] } else { &rights };
    let iov = [IoSlice::new(message)];
    // The launcher may refuse before taking all of it: a short or failed send is fine.
    let _ = sendmsg::<()>(parked.socket.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None);
    let mut report = [0u8; protocol::REPORT_LEN];
    let got = crate::sys::read_full(parked.socket.as_raw_fd(), &mut report).unwrap();
    let mut container = parked.container;
    let _ = container.reap_after_setup_failure();
    (got, protocol::decode_report(&report))
}

fn message(header: [u32; 4], body: &[u8]) -> Vec<u8> {
    let [b, c, a, e] = header;
    let mut m = wire::encode_header(b, c, a, e).to_vec();
    m.extend_from_slice(body);
    m
}

fn null_fds(n: usize) -> Vec<OwnedFd> {
    (0..n).map(|_| crate::null_device::open().unwrap()).collect()
}

#[test]
fn malformed_messages_are_refused_and_nothing_runs() {
    if !root_or_skip() {
        return;
    }
    let template = Template::new(ContainerBuilder::new()).unwrap();
    // cwd, one candidate, argv[0], one variable: 4 strings.
    let body = b"/\0/bin/true\0true\0A=1\0";
    let len = body.len() as u32;
    let refused = (protocol::REPORT_LEN, (wire::STEP_MESSAGE, wire::EPROTO));
    let cases: [(&str, Vec<u8>, usize); 6] = [
        ("more strings than sent", message([len, 1, 2, 1], body), 3),
        ("fewer strings than sent", message([len, 1, 1, 0], body), 3),
        ("no argv", message([len, 1, 0, 2], body), 3),
        ("no final NUL", message([len - 1, 1, 1, 1], &body[..body.len() - 1]), 3),
        ("two fds", message([len, 1, 1, 1], body), 2),
        ("no fds", message([len, 1, 1, 1], body), 0),
    ];
    for (what, bytes, fds) in cases {
        assert_eq!(report_for(&template, &bytes, &null_fds(fds)), refused, "{what}");
    }
    let huge = (wire::BODY_MAX + 1) as u32;
    assert_eq!(
        report_for(&template, &message([huge, 1, 1, 1], body), &null_fds(3)),
        refused,
        "a body over the bound"
    );
    // The well-formed message runs: EOF, no report.
    let (got, _) = report_for(&template, &message([len, 1, 1, 1], body), &null_fds(3));
    assert_eq!(got, 0, "a well-formed message was refused");
}

/// On cgroup v1 the swap limit is `memory.memsw.limit_in_bytes`, memory plus swap, written
/// only with the memory limit: a run tightening memory alone left the template's sum, so its
/// payload could swap more than the template allows (memory tightened by N: N more swap).
/// The run's limits carry the template's swap limit with a tightened memory limit.
#[test]
fn a_tightened_memory_limit_keeps_the_templates_swap_limit() {
    let mut builder = ContainerBuilder::new();
    builder.memory_limit(256 << 20).memory_swap_limit(16 << 20);
    let template = Template::new(builder).unwrap();
    let mut run = super::PoolRun::default();
    run.command("/bin/true").memory_limit(64 << 20);
    let limits = template.prepare(&run).unwrap().limits;
    assert_eq!((limits.memory, limits.swap), (Some(64 << 20), Some(16 << 20)));
    // Without a tightened memory limit nothing is rewritten.
    run.memory = None;
    assert!(template.prepare(&run).unwrap().limits.is_empty());
}
