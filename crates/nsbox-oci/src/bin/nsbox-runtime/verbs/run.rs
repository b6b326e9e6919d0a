//! `run`: `create`, `start`, and (without `--detach`) wait for the payload and exit with its
//! status, deleting the container afterwards unless `--keep`.

use crate::Ctx;
use crate::error::{Context, Result};
use crate::verbs::create::{Request, create};

/// The exit code `run` ends with (0 with `--detach`).
pub fn run(ctx: &mut Ctx, a: &liboci_cli::Run) -> Result<i32> {
    let req = Request {
        id: &a.container_id,
        bundle: &a.bundle,
        pid_file: a.pid_file.as_deref(),
        console_socket: a.console_socket.as_deref(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        foreground: !a.detach,
    };
    let mut created = create(ctx, &req)?;
    if let Err(e) = crate::verbs::start::start(ctx, &a.container_id) {
        let _ = crate::verbs::delete::delete(ctx, &a.container_id, true);
        return Err(e);
    }
    if a.detach {
        return Ok(0);
    }
    let status = created.container.wait().context("cannot wait for the container")?;
    if !a.keep {
        crate::verbs::delete::delete(ctx, &a.container_id, true)?;
    }
    // A signal's death is 128 + N, as a shell (and runc) reports it.
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().map_or(0, |s| s.as_raw())))
}
