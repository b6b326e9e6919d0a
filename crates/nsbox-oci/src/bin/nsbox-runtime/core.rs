//! The nsbox APIs the runtime needs that the core is still growing, one function each, so
//! that each plugs in at one place (see docs/oci.md, "nsbox-runtime", for what waits on what).

use std::os::fd::OwnedFd;

use nsbox::{Container, ContainerBuilder, ExecBuilder};

use crate::error::{Result, fail};

/// Parks the payload at a start gate: after every setup step (seccomp included) and the
/// command lookup it waits until one byte can be read from `fd`, and `spawn` returns then
/// (`ContainerBuilder::start_gate`). Returns false while the core has no gate: the payload
/// then runs as soon as `create` spawns it.
pub fn start_gate(_builder: &mut ContainerBuilder, fd: OwnedFd) -> bool {
    drop(fd);
    false
}

/// Runs `hook` with the payload's host pid once the container's namespaces exist, before
/// anything of it is set up (`ContainerBuilder::on_created`): where `createRuntime` and
/// `prestart` hooks belong. Returns false while the core has none: the hooks then run after
/// `spawn`.
pub fn on_created(
    _builder: &mut ContainerBuilder,
    _hook: impl FnMut(u32) -> std::io::Result<()> + Send + 'static,
) -> bool {
    false
}

/// A handle on the running container `pid`, made from the bundle's builder, for `exec`
/// (`ContainerBuilder::adopt`).
pub fn adopt(_builder: &ContainerBuilder, _pid: u32) -> Result<Container> {
    fail!(
        "exec is not supported yet: nsbox cannot attach to a container it did not spawn in this process (ContainerBuilder::adopt)"
    )
}

/// Makes an exec'd process outlive the runtime without an nsbox process above it, for the
/// engine's shim to reap (runc's `exec --detach`).
pub fn exec_detach(_exec: &mut ExecBuilder<'_>) -> Result<()> {
    fail!("exec --detach is not supported yet (ExecBuilder detached mode)")
}
