//! The command's side of the control socket.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};

use super::protocol::{Request, Response};
use crate::error::{CliError, Result};
use crate::fdpass;
use crate::state::ContainerDir;

/// A connection to a container's monitor, with `request` sent.
pub struct Connection(OwnedFd);

impl Connection {
    pub fn send(dir: &ContainerDir, request: &Request, fds: &[RawFd]) -> Result<Connection> {
        let not_running = || CliError::new(format!("Error: container {} is not running", dir.id));
        let sock = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)
            .map_err(std::io::Error::from)?;
        let addr = UnixAddr::new(&dir.control_socket()).map_err(|e| CliError::new(e.to_string()))?;
        connect(sock.as_raw_fd(), &addr).map_err(|_| not_running())?;
        fdpass::send(&sock, &serde_json::to_vec(request).expect("a request serializes"), fds)?;
        Ok(Connection(sock))
    }

    /// The next response and the fds it carried; the monitor closing first is an error.
    pub fn response(&self) -> Result<(Response, Vec<OwnedFd>)> {
        let (bytes, fds) = fdpass::recv(&self.0)?;
        if bytes.is_empty() {
            return Err(CliError::new("the container's monitor closed the connection"));
        }
        let response = serde_json::from_slice(&bytes).map_err(|e| CliError::new(format!("bad response: {e}")))?;
        Ok((response, fds))
    }
}

/// Sends `request` and returns its response; an error response becomes the command's error.
pub fn call(dir: &ContainerDir, request: &Request) -> Result<Response> {
    let (response, _) = Connection::send(dir, request, &[])?.response()?;
    match response.error {
        Some(message) => Err(CliError::with_code(
            response.code.unwrap_or(crate::error::USAGE),
            message,
        )),
        None => Ok(response),
    }
}
