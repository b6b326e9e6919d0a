//! The bytes exchanged between the caller, the setup process and the programs of the init
//! binary (nsbox-init, nsbox-exec, nsbox-connect), defined once: the crate and the `no_std`
//! binary (`src/pid1/nsbox_init.rs`) both include this file. No `std`, no allocation.

use core::ffi::CStr;

/// A setup failure on the error pipe: `(step index: u32, errno: i32)`, little-endian, in one
/// write (atomic on a pipe). EOF without one means the payload was executed.
pub const REPORT_LEN: usize = 8;

pub const fn encode_report(step: u32, errno: i32) -> [u8; REPORT_LEN] {
    let (s, e) = (step.to_le_bytes(), errno.to_le_bytes());
    [s[0], s[1], s[2], s[3], e[0], e[1], e[2], e[3]]
}

pub const fn decode_report(report: &[u8; REPORT_LEN]) -> (u32, i32) {
    let r = report;
    (
        u32::from_le_bytes([r[0], r[1], r[2], r[3]]),
        i32::from_le_bytes([r[4], r[5], r[6], r[7]]),
    )
}

/// The payload's raw wait status on the status pipe, little-endian, written by the init.
pub const STATUS_LEN: usize = 4;

/// The exit code of a process whose setup (or launch) failed, as a shell's for a command that
/// cannot run; the report on the error pipe says why.
pub const EXIT_SETUP_FAILED: i32 = 127;

/// Exit codes of a launcher released from its start gate whose payload's exec then failed
/// (nothing reads the error pipe any more): a shell's for a command not found, one that
/// cannot be executed; and of one whose gate closed without a byte (Docker's "the runtime
/// failed").
pub const EXIT_NOT_FOUND: i32 = 127;
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
pub const EXIT_GATE_CLOSED: i32 = 125;

/// argv[0] of each program of the init binary.
pub const INIT_NAME: &CStr = c"nsbox-init";
pub const EXEC_NAME: &CStr = c"nsbox-exec";
pub const CONNECT_NAME: &CStr = c"nsbox-connect";

/// The fds each program starts with.
pub mod fd {
    /// nsbox-init: the status pipe's write end.
    pub const INIT_STATUS: i32 = 3;
    /// nsbox-init and nsbox-connect: their own binary, while it is executed (close-on-exec).
    pub const BINARY: i32 = 4;
    /// nsbox-init and nsbox-connect: the confirmation pipe's write end (see `confinement`).
    pub const READY: i32 = 5;
    /// nsbox-connect: its end of the forwarder's SOCK_SEQPACKET socket pair.
    pub const CONNECTOR_SOCKET: i32 = 3;
    /// nsbox-init: the lifeline's read end (absent for a detached container): only the
    /// caller's process holds the write end, so EOF here means that process is gone, and the
    /// init exits, taking the container with it.
    pub const LIFELINE: i32 = 6;
}

/// nsbox-exec's arguments: `nsbox-exec ERROR_FD STEP LANDLOCK READY_FD READY_BYTES COUNT
/// CANDIDATE... ARGV...`, [`NONE`] for an absent fd.
pub mod exec_arg {
    pub const ERROR_FD: usize = 1;
    pub const STEP: usize = 2;
    pub const LANDLOCK: usize = 3;
    pub const READY_FD: usize = 4;
    pub const READY_BYTES: usize = 5;
    /// The start gate (see `ContainerBuilder::start_gate`), or `-`.
    pub const GATE_FD: usize = 6;
    pub const COUNT: usize = 7;
    /// The first candidate path; the payload's argv follows the candidates.
    pub const HEADER: usize = 8;
}

/// A warm pool's gate (see `src/pool`): `GATE_FD` is this byte and the socket's number
/// (`p7`): the launcher then waits for its payload's message on that socket instead of one byte.
pub const POOL_GATE_PREFIX: u8 = b'p';

/// A warm pool's message to its parked launcher, on a stream socket: a header of four
/// little-endian u32 (body length, candidate count, argc, envc), with the payload's stdin,
/// stdout and stderr attached to it (SCM_RIGHTS, exactly three), then the body: the working
/// directory, the candidate paths, the argv and the environment, each NUL-terminated, in that
/// order. The launcher answers on the same socket: EOF (it is close-on-exec) when the payload
/// was executed, else a report (`encode_report`) whose step is one of `pool_step`.
pub mod pool {
    pub const HEADER_LEN: usize = 16;
    /// The most a body may hold: the caller checks it before sending, the launcher again.
    pub const BODY_MAX: usize = 1 << 20;
    /// The fds attached to the header.
    pub const FDS: usize = 3;
    /// What failed, as the step of the report.
    pub const STEP_MESSAGE: u32 = 0;
    pub const STEP_CHDIR: u32 = 1;
    pub const STEP_EXEC: u32 = 2;
    /// The launcher's answer to a message it cannot take (short, malformed, wrong fds).
    pub const EPROTO: i32 = 71;

    pub const fn encode_header(body: u32, count: u32, argc: u32, envc: u32) -> [u8; HEADER_LEN] {
        let (b, c, a, e) = (
            body.to_le_bytes(),
            count.to_le_bytes(),
            argc.to_le_bytes(),
            envc.to_le_bytes(),
        );
        [
            b[0], b[1], b[2], b[3], c[0], c[1], c[2], c[3], a[0], a[1], a[2], a[3], e[0], e[1], e[2], e[3],
        ]
    }

    /// `(body length, candidate count, argc, envc)`.
    pub const fn decode_header(h: &[u8; HEADER_LEN]) -> (u32, u32, u32, u32) {
        (
            u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
            u32::from_le_bytes([h[4], h[5], h[6], h[7]]),
            u32::from_le_bytes([h[8], h[9], h[10], h[11]]),
            u32::from_le_bytes([h[12], h[13], h[14], h[15]]),
        )
    }
}

/// An absent fd in nsbox-exec's arguments.
pub const NONE: &CStr = c"-";

/// What each confined process writes once on the confirmation pipe.
pub const READY_BYTE: u8 = b'r';

/// The Linux errnos the programs of the init binary name (the same on every architecture).
pub mod errno {
    pub const ENOENT: i32 = 2;
    pub const EINTR: i32 = 4;
    pub const EACCES: i32 = 13;
    pub const ENODEV: i32 = 19;
    pub const ENOTDIR: i32 = 20;
    pub const ETIMEDOUT: i32 = 110;
    pub const EINPROGRESS: i32 = 115;
    pub const ESTALE: i32 = 116;
    pub const ECANCELED: i32 = 125;
}

/// The execvp policy for the `PATH` candidates: after these errors the next candidate is
/// tried (the file is not there, or not reachable); any other error ends the search.
pub const fn exec_tries_next(errno: i32) -> bool {
    matches!(
        errno,
        errno::ENOENT | errno::ENOTDIR | errno::ESTALE | errno::ENODEV | errno::ETIMEDOUT
    )
}

/// The error the search reports: EACCES if some candidate was there but not executable and
/// the last error only said "not there", else the last error (as execvp does).
pub const fn exec_search_result(last: i32, saw_eacces: bool) -> i32 {
    if saw_eacces && exec_tries_next(last) {
        errno::EACCES
    } else {
        last
    }
}

/// A connector request: `[kind, 0, port as little-endian u16]`.
pub const REQUEST_LEN: usize = 4;
pub const REQUEST_TCP: u8 = b't';
pub const REQUEST_UDP: u8 = b'u';

pub const fn encode_request(kind: u8, port: u16) -> [u8; REQUEST_LEN] {
    let [lo, hi] = port.to_le_bytes();
    [kind, 0, lo, hi]
}

/// `(kind, port)` of a request.
pub const fn decode_request(request: &[u8; REQUEST_LEN]) -> (u8, u16) {
    (request[0], u16::from_le_bytes([request[2], request[3]]))
}

/// A connector reply: the errno of making and connecting the socket (0: done), little-endian;
/// on success the connected socket rides along (SCM_RIGHTS).
pub const REPLY_LEN: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_and_requests_round_trip() {
        assert_eq!(decode_report(&encode_report(41, -7)), (41, -7));
        assert_eq!(decode_request(&encode_request(REQUEST_UDP, 8080)), (REQUEST_UDP, 8080));
        assert_eq!(
            pool::decode_header(&pool::encode_header(1, 2, 3, u32::MAX)),
            (1, 2, 3, u32::MAX)
        );
    }

    #[test]
    fn exec_search_prefers_eacces_over_not_found() {
        assert_eq!(exec_search_result(errno::ENOENT, true), errno::EACCES);
        assert_eq!(exec_search_result(errno::ENOENT, false), errno::ENOENT);
        assert_eq!(exec_search_result(8, true), 8); // ENOEXEC ends the search and wins
    }
}
