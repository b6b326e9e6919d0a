//! Import throughput (issue 14): nsbox importing an OCI layout into a fresh store (blobs
//! copied and verified, layers unpacked, the store synced) beside `tar -x` of the same layer
//! blobs (`tar -xzf` for gzip), with and without a `sync -f` after, `umoci unpack` and
//! `skopeo copy oci:… dir:…`, rounds interleaved in one process.
//!
//! benches/image-import.sh packs the layers and the layouts and runs this; run alone (as
//! `cargo bench` does) it only says so. Environment (set by the script):
//! - `NSBOX_IMPORT_DIR`: holds `layout-plain/` and `layout-gzip/` (one image tagged `bench`,
//!   the same layers uncompressed and gzip), `scratch/` for the outputs.
//! - `NSBOX_IMPORT_ROUNDS` (5): runs per runner and layout.
//!
//! Every output goes to a fresh directory of `scratch/`, removed (and the file system synced)
//! after each run, untimed, so no run pays for an earlier one's writeback.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nsbox_image::{Source, Store};

/// Takes the layout (first argument) apart into the second (a path that does not exist yet).
type Run = Box<dyn Fn(&Path, &Path) -> Result<(), String>>;

/// One way to take a layout apart.
struct Runner {
    name: &'static str,
    run: Run,
    samples: Vec<Duration>,
}

fn command(mut c: Command) -> Result<(), String> {
    let out = c.output().map_err(|e| format!("{c:?}: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{c:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

fn installed(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// The layer blobs of the layout's image, base first.
fn layer_blobs(layout: &Path) -> Vec<PathBuf> {
    let read = |path: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
    };
    let blob = |digest: &serde_json::Value| layout.join("blobs/sha256").join(&digest.as_str().unwrap()[7..]);
    let index = read(layout.join("index.json"));
    let manifest = read(blob(&index["manifests"][0]["digest"]));
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| blob(&l["digest"]))
        .collect()
}

/// The runners for one layout; `gzip` says how its layers are stored.
fn runners(layout: &Path, gzip: bool) -> Vec<Runner> {
    let blobs = layer_blobs(layout);
    let tar_x = move |blobs: Vec<PathBuf>, sync: bool| {
        move |_: &Path, out: &Path| -> Result<(), String> {
            std::fs::create_dir(out).map_err(|e| e.to_string())?;
            for blob in &blobs {
                let mut c = Command::new("tar");
                c.arg(if gzip { "-xzf" } else { "-xf" }).arg(blob).arg("-C").arg(out);
                command(c)?;
            }
            if sync {
                let mut c = Command::new("sync");
                c.arg("-f").arg(out);
                command(c)?;
            }
            Ok(())
        }
    };
    let mut list = vec![
        Runner {
            name: "nsbox import (fresh store)",
            run: Box::new(|layout, out| {
                let store = Store::open(out).map_err(|e| e.to_string())?;
                store
                    .import(&Source::oci_layout(layout), "bench:latest", |_| {})
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
            samples: Vec::new(),
        },
        Runner {
            name: if gzip {
                "tar -xzf, each layer"
            } else {
                "tar -xf, each layer"
            },
            run: Box::new(tar_x(blobs.clone(), false)),
            samples: Vec::new(),
        },
        Runner {
            name: if gzip {
                "tar -xzf + sync -f"
            } else {
                "tar -xf + sync -f"
            },
            run: Box::new(tar_x(blobs, true)),
            samples: Vec::new(),
        },
    ];
    if installed("umoci") {
        list.push(Runner {
            name: "umoci unpack",
            run: Box::new(|layout, out| {
                let mut c = Command::new("umoci");
                c.args(["unpack", "--image"])
                    .arg(format!("{}:bench", layout.display()))
                    .arg(out);
                command(c)
            }),
            samples: Vec::new(),
        });
    }
    if installed("skopeo") {
        list.push(Runner {
            name: "skopeo copy oci: dir: (no unpack)",
            run: Box::new(|layout, out| {
                let mut c = Command::new("skopeo");
                c.args(["copy", "-q"])
                    .arg(format!("oci:{}:bench", layout.display()))
                    .arg(format!("dir:{}", out.display()));
                command(c)
            }),
            samples: Vec::new(),
        });
    }
    list
}

/// Removes `out` and syncs its file system (untimed).
fn clean(out: &Path, scratch: &Path) {
    if out.exists() {
        std::fs::remove_dir_all(out).unwrap_or_else(|e| panic!("rm {}: {e}", out.display()));
    }
    let _ = Command::new("sync").arg("-f").arg(scratch).status();
}

fn main() {
    let Some(dir) = std::env::var_os("NSBOX_IMPORT_DIR").map(PathBuf::from) else {
        println!("image_import: run benches/image-import.sh, which packs the layers and the layouts");
        return;
    };
    let rounds: usize = std::env::var("NSBOX_IMPORT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let scratch = dir.join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    for (label, gzip) in [("uncompressed", false), ("gzip", true)] {
        let layout = dir.join(if gzip { "layout-gzip" } else { "layout-plain" });
        let blobs = layer_blobs(&layout);
        let stored: u64 = blobs.iter().map(|b| std::fs::metadata(b).unwrap().len()).sum();
        let uncompressed: u64 = layer_blobs(&dir.join("layout-plain"))
            .iter()
            .map(|b| std::fs::metadata(b).unwrap().len())
            .sum();
        let mut list = runners(&layout, gzip);
        // One untimed run each (warms the page cache, shows failures).
        list.retain(|r| {
            let out = scratch.join("warm");
            let result = (r.run)(&layout, &out);
            clean(&out, &scratch);
            match result {
                Ok(()) => true,
                Err(e) => {
                    println!("**{label} / {} dropped**: {e}", r.name);
                    false
                }
            }
        });
        for round in 0..rounds {
            // Rotate the order each round so no runner always follows the same neighbour.
            let n = list.len();
            for i in 0..n {
                let r = &mut list[(i + round) % n];
                let out = scratch.join(format!("out-{round}-{i}"));
                let started = Instant::now();
                let result = (r.run)(&layout, &out);
                let elapsed = started.elapsed();
                clean(&out, &scratch);
                match result {
                    Ok(()) => r.samples.push(elapsed),
                    Err(e) => println!("{label} / {}: {e}", r.name),
                }
            }
        }
        print_table(label, &blobs, stored, uncompressed, &mut list);
    }
}

fn print_table(label: &str, blobs: &[PathBuf], stored: u64, uncompressed: u64, list: &mut [Runner]) {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!(
        "\n### {label}: {} layers, {:.1} MiB stored, {:.1} MiB of tar\n",
        blobs.len(),
        mib(stored),
        mib(uncompressed)
    );
    println!("| runner | n | p50 s | min s | MiB/s (of tar) | p50 / p50(tar -x) |");
    println!("|---|---:|---:|---:|---:|---:|");
    let median = |s: &mut Vec<Duration>| {
        s.sort_unstable();
        s.get(s.len() / 2).copied()
    };
    let tar = list
        .iter_mut()
        .find(|r| r.name.starts_with("tar") && !r.name.contains("sync"))
        .and_then(|r| median(&mut r.samples))
        .unwrap_or_default();
    for r in list.iter_mut() {
        let Some(p50) = median(&mut r.samples) else {
            println!("| {} | 0 | failed | | | |", r.name);
            continue;
        };
        println!(
            "| {} | {} | {:.3} | {:.3} | {:.0} | {:.2}x |",
            r.name,
            r.samples.len(),
            p50.as_secs_f64(),
            r.samples[0].as_secs_f64(),
            mib(uncompressed) / p50.as_secs_f64(),
            p50.as_secs_f64() / tar.as_secs_f64().max(1e-9)
        );
    }
}
