//! Hooks run once a container's payload executed ([`ContainerBuilder::on_spawn`](crate::ContainerBuilder::on_spawn)):
//! an image store recording which process holds its layers, say.

use std::fmt;
use std::io;
use std::sync::Arc;

use crate::Container;

type Hook = dyn Fn(&Container) -> io::Result<()> + Send + Sync;

/// The caller's hooks, shared by each builder and [`Config`](crate::Config) made from them.
#[derive(Clone, Default)]
pub(crate) struct OnSpawn(Vec<Arc<Hook>>);

impl OnSpawn {
    pub fn push(&mut self, hook: Arc<Hook>) {
        self.0.push(hook);
    }

    /// Runs every hook in the order they were added; stops at the first failure.
    pub fn run(&self, container: &Container) -> io::Result<()> {
        self.0.iter().try_for_each(|hook| hook(container))
    }
}

impl fmt::Debug for OnSpawn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OnSpawn({} hooks)", self.0.len())
    }
}
