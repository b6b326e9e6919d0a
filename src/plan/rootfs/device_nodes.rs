//! The caller's device nodes in the fresh /dev ([`DeviceNode`](crate::DeviceNode)): made
//! with mknod, or in a user namespace (where mknod of a device is refused) the host's node at
//! the same path bound, as runc does. Subdirectories (`/dev/net`) are made on the way.

use std::os::unix::ffi::OsStrExt;

use super::*;

/// After the /dev tmpfs (open in slot `dev`) is filled with nsbox's own entries.
pub(super) fn plan_device_nodes(plan: &mut Plan, config: &Config, dev: usize) -> Result<()> {
    let in_userns = config.in_user_namespace();
    for node in &config.device_nodes {
        let path = crate::config::container_path(crate::Setting::DeviceNode, node.path())?;
        if crate::devices::host_dev_node(&path).is_some() {
            // The same device nsbox binds there already (build() refused another one).
            continue;
        }
        let Ok(below) = path.strip_prefix("/dev") else { continue };
        let names: Vec<&std::ffi::OsStr> = below.iter().collect();
        let Some((last, dirs)) = names.split_last() else {
            continue;
        };
        let source = match in_userns {
            true => Some(plan.open_source(&path, SetupStep::DeviceNode)?),
            false => None,
        };
        let mut dir = dev;
        for name in dirs {
            let slot = plan.new_slot();
            let step = Step::DevDir {
                dir,
                name: cstring(name.as_bytes())?,
                slot,
            };
            plan.push(step, SetupStep::DeviceNode, Some(path.clone()));
            dir = slot;
        }
        let name = cstring(last.as_bytes())?;
        let step = match source {
            Some(source) => Step::BindInto { source, dir, name },
            None => Step::MakeDevice {
                dir,
                name,
                mode: node.mknod_mode(),
                rdev: node.rdev(),
                uid: node.uid,
                gid: node.gid,
            },
        };
        plan.push(step, SetupStep::DeviceNode, Some(path.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn build_knows_the_nodes_dev_binds() {
        assert_eq!(crate::devices::HOST_DEV_NODES, super::super::dev::DEVICES);
        // `open_sources` opens them in this order, and `hide` takes the first.
        assert_eq!(super::super::dev::DEVICES[0], "null");
    }
}
