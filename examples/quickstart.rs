//! A container on the embedded default: the host root read-only, every namespace, nothing to
//! download. Shows what the payload sees from inside.
//!
//! Run as root: `cargo run --example quickstart`

use nsbox::{Container, Mount, Namespaces};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let script = r#"
        echo "hostname:   $(hostname)"
        echo "my pid:     $$"
        echo "user:       $(id -u):$(id -g)"
        echo "processes:  $(ls /proc | grep -c '^[0-9]')"
        echo "interfaces: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\n' ' ')"
        echo "host /tmp:  $(ls -A /tmp | wc -l) entries (a fresh tmpfs)"
        touch /usr/nsbox-probe 2>/dev/null && echo "root fs:    WRITABLE" || echo "root fs:    read-only"
        echo scratch > /scratch/file && echo "scratch:    $(cat /scratch/file) (tmpfs)"
    "#;
    let out = Container::builder()
        .namespaces(Namespaces::all())
        .hostname("quickstart")
        .mount(Mount::tmpfs("/scratch").size(16 << 20))
        .command("/bin/sh")
        .args(["-c", script])
        .output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    println!("exit:       {}", out.status);
    if !out.status.success() {
        return Err(format!("container failed: {}", out.status).into());
    }
    Ok(())
}
