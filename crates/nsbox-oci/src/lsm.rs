//! Why a field nsbox cannot honour on this host is refused, in the same words wherever it
//! comes from (config.json, `exec`'s flags): Linux security modules and Intel RDT.

use oci_spec::runtime::Linux;

use crate::error::{Result, unsupported};
use crate::options::Options;

/// `linux.intelRdt`: refused, by [`Options::intel_rdt_refusal`].
pub(crate) fn intel_rdt(linux: &Linux, options: &Options) -> Result<()> {
    match linux.intel_rdt() {
        Some(_) => Err(unsupported("linux.intelRdt", options.intel_rdt_refusal())),
        None => Ok(()),
    }
}

impl Options {
    /// Why an AppArmor profile is refused: "this host has no AppArmor" where it has none,
    /// else nsbox cannot apply one (a core gap).
    pub fn apparmor_refusal(&self, profile: &str) -> String {
        match self.apparmor {
            true => format!("nsbox cannot apply AppArmor profile {profile:?}"),
            false => format!("this host has no AppArmor (profile {profile:?})"),
        }
    }

    /// Why an SELinux label is refused: "this host has no SELinux" where it has none, else
    /// nsbox cannot apply one (a core gap).
    pub fn selinux_refusal(&self, label: &str) -> String {
        match self.selinux {
            true => format!("nsbox cannot apply SELinux label {label:?}"),
            false => format!("this host has no SELinux (label {label:?})"),
        }
    }

    /// Why `linux.intelRdt` is refused: "this host has no resctrl (Intel RDT)" where it has
    /// none, else nsbox cannot apply it (a core gap).
    pub fn intel_rdt_refusal(&self) -> String {
        match self.resctrl {
            true => "nsbox cannot apply Intel RDT (resctrl) settings".into(),
            false => "this host has no resctrl (Intel RDT)".into(),
        }
    }
}
