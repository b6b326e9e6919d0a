//! Values a container keeps alive ([`ContainerBuilder::keep_alive`](crate::ContainerBuilder::keep_alive)):
//! an image store's lease on the layers an overlay root mounts, say.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// Shared handles to the caller's values: each builder, [`Config`](crate::Config) and
/// container made from them holds one, so a value lives while anything that may still start
/// or is still running a container on it does.
#[derive(Clone, Default)]
pub(crate) struct KeepAlive(Vec<Arc<dyn Any + Send + Sync>>);

impl KeepAlive {
    pub fn push(&mut self, value: Arc<dyn Any + Send + Sync>) {
        self.0.push(value);
    }

    /// Lets go of every value (the container was reaped).
    pub fn release(&mut self) {
        self.0.clear();
    }
}

impl fmt::Debug for KeepAlive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeepAlive({} values)", self.0.len())
    }
}
