//! Prints what this host supports: kernel, cgroup layout and controllers, user namespaces and
//! the syscalls nsbox relies on. `cargo run --example preflight` (as root or not).

fn main() {
    let host = nsbox::preflight();
    println!("kernel:          {}", host.kernel);
    println!("cgroup mode:     {:?}", host.cgroup_mode);
    for c in &host.controllers {
        let place = c
            .parent
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "-".into());
        let version = c.version.map(|v| format!("v{v}")).unwrap_or_else(|| "--".into());
        match &c.reason {
            None => println!("  {:<8} {version} usable       {place}", c.controller.to_string()),
            Some(why) => println!("  {:<8} {version} NOT usable   {why}", c.controller.to_string()),
        }
    }
    let u = &host.user_namespaces;
    println!(
        "user namespaces: available={} blocked_by={:?}",
        u.available, u.blocked_by
    );
    println!("newuidmap:       {:?} newgidmap: {:?}", u.newuidmap, u.newgidmap);
    println!("syscalls:        {:?}", host.syscalls);
}
