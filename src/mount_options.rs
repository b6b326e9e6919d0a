//! Container-wide mount settings an OCI runtime needs (issue 16, mounts): propagation from
//! the host, and a writable sysfs.

use crate::builder::ContainerBuilder;

impl ContainerBuilder {
    /// Lets mounts the host makes later, under the container's sources (a rootfs directory, a
    /// bind's source), appear in the container: every mount of the container's mount
    /// namespace is made a slave of its host peer group instead of private (runc's default
    /// `rslave` root propagation). Nothing mounted in the container ever reaches the host.
    /// Only host mounts that are shared propagate (systemd makes `/` shared); a bind can opt
    /// out with [`Propagation::Private`](crate::Propagation::Private).
    ///
    /// For the host root's hidden paths ([`hide_host_paths`](Self::hide_host_paths)) this
    /// means a host mount made later under a hidden directory is not covered.
    ///
    /// ```
    /// use nsbox::{Container, Mount, Rootfs};
    /// let mut b = Container::builder();
    /// b.rootfs(Rootfs::dir("/srv/rootfs")).receive_host_mounts().command("/bin/true");
    /// ```
    pub fn receive_host_mounts(&mut self) -> &mut Self {
        self.settings.receive_host_mounts = true;
        self
    }

    /// Mounts the container's sysfs writable (runc's `rw` sysfs, as Docker asks for a
    /// privileged container). Needs the container's own network namespace: without one the
    /// host's `/sys` is bound, and that stays read-only
    /// ([`ConfigError::NeedsNamespace`](crate::ConfigError::NeedsNamespace) otherwise). A
    /// writable sysfs lets a payload with `CAP_SYS_ADMIN` outside a user namespace change the
    /// host's kernel and device settings: for trusted payloads.
    pub fn writable_sys(&mut self) -> &mut Self {
        self.settings.writable_sys = true;
        self
    }
}
