//! Prints where the time of one spawn goes, phase by phase (build with the `trace-timing`
//! feature: `cargo run --release --features trace-timing --example phases`).

use nsbox::{Container, Namespaces, Profile, Seccomp};

/// A named way to set up the builder.
type Config = (&'static str, fn(&mut nsbox::ContainerBuilder));

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let configs: [Config; 4] = [
        ("all namespaces, no seccomp", |b| {
            b.seccomp(Seccomp::unconfined());
        }),
        ("all namespaces + Docker's seccomp", |_| {}),
        ("Profile::Sandbox", |b| {
            b.profile(Profile::Sandbox);
        }),
        ("no namespaces", |b| {
            b.namespaces(Namespaces::empty()).seccomp(Seccomp::unconfined());
        }),
    ];
    for (name, configure) in configs {
        let mut builder = Container::builder();
        builder.command("/bin/true");
        configure(&mut builder);
        builder.spawn()?.wait()?; // warm caches (seccomp compile, page cache)
        let mut c = builder.spawn()?;
        println!("== {name}");
        if c.setup_timings().phases().is_empty() {
            println!("(built without the trace-timing feature)");
        } else {
            println!("{}", c.setup_timings());
        }
        c.wait()?;
    }
    Ok(())
}
