//! Images: `images`, `load`, `import`, `pull oci:DIR[:TAG]`, `rmi`, `image prune`.

use crate::cli::{ImagesArgs, ImportArgs, LoadArgs, PullArgs, RmiArgs};
use crate::commands::ps::print_table;
use crate::error::{CliError, Result, bail};
use crate::paths::Paths;
use crate::progress::Bar;
use crate::state::StateRoot;
use crate::time::{human_duration, now_unix};
use nsbox_image::{Image, Source, Store};

pub fn list(paths: &Paths, args: ImagesArgs) -> Result<i32> {
    let store = paths.open_store()?;
    let mut rows = vec![[
        "REPOSITORY".to_owned(),
        "TAG".into(),
        "IMAGE ID".into(),
        "CREATED".into(),
        "SIZE".into(),
    ]];
    for image in store.list()? {
        // The build cache's step images are not listed (see build/cache.rs).
        let shown: Vec<_> = image
            .references()
            .iter()
            .filter(|r| r.name() != crate::build::CACHE_REPOSITORY)
            .collect();
        if shown.is_empty() {
            continue;
        }
        let id = image.config_digest().hex().to_owned();
        let id = if args.no_trunc {
            format!("sha256:{id}")
        } else {
            id[..12].to_owned()
        };
        if args.quiet {
            println!("{id}");
            continue;
        }
        let created = image
            .config()
            .created()
            .as_deref()
            .and_then(crate::time::parse_since)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or("N/A".to_owned(), |t| {
                format!("{} ago", human_duration(now_unix() - t.as_secs_f64()))
            });
        let size: u64 = image.layers().iter().map(|l| l.size()).sum();
        for reference in shown {
            rows.push([
                reference.name().to_owned(),
                reference.tag().unwrap_or("<none>").to_owned(),
                id.clone(),
                created.clone(),
                human_size(size),
            ]);
        }
    }
    if !args.quiet {
        print_table(&rows);
    }
    Ok(0)
}

/// `docker load -i archive.tar`: every image the archive names, tagged so.
pub fn load(paths: &Paths, args: LoadArgs) -> Result<i32> {
    let store = paths.open_store()?;
    let source = Source::docker_archive(&args.input);
    let names = source.names()?;
    if names.is_empty() {
        bail!(
            "{}: the archive names no image (import it with a name: nsbox import)",
            args.input.display()
        );
    }
    for name in names {
        let image = import_with_bar(&store, &source, &name.to_string(), args.quiet)?;
        println!("Loaded image: {name}");
        let _ = image;
    }
    Ok(0)
}

/// `docker import rootfs.tar NAME`.
pub fn import(paths: &Paths, args: ImportArgs) -> Result<i32> {
    let store = paths.open_store()?;
    let image = import_with_bar(&store, &Source::rootfs_tar(&args.file), &args.reference, false)?;
    println!("sha256:{}", image.config_digest().hex());
    Ok(0)
}

/// `pull oci:DIR[:TAG] [NAME]`: an OCI layout directory (skopeo's and buildah's transport
/// syntax). Registries are the library's `pull` feature, not built into this command.
pub fn pull(paths: &Paths, args: PullArgs) -> Result<i32> {
    let Some(rest) = args.source.strip_prefix("oci:") else {
        bail!(
            "unsupported source {:?}: this nsbox pulls from OCI layout directories (oci:DIR[:TAG]); for a registry, copy the image to a directory first (skopeo copy docker://… oci:DIR:TAG)",
            args.source
        );
    };
    let (dir, tag) = match rest.rsplit_once(':') {
        Some((dir, tag)) if !tag.contains('/') => (dir, Some(tag)),
        _ => (rest, None),
    };
    let source = Source::oci_layout(dir);
    let reference = match (&args.reference, tag) {
        (Some(name), _) => name.clone(),
        (None, Some(tag)) => {
            let base = std::path::Path::new(dir)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("image")
                .to_ascii_lowercase();
            format!("{base}:{tag}")
        }
        (None, None) => match source.names()?.into_iter().next() {
            Some(name) => name.to_string(),
            None => bail!("{dir}: name the image: nsbox pull oci:DIR:TAG [NAME]"),
        },
    };
    import_with_bar(&store_of(paths)?, &source, &reference, args.quiet)?;
    println!("{reference}");
    Ok(0)
}

fn store_of(paths: &Paths) -> Result<Store> {
    paths.open_store()
}

fn import_with_bar(store: &Store, source: &Source, reference: &str, quiet: bool) -> Result<Image> {
    let mut bar = Bar::new(reference, quiet);
    let image = store.import(source, reference, |p| bar.update(p));
    bar.finish();
    Ok(image?)
}

/// `rmi IMAGE…`: untags; refused while a container (running or not) was made from the image,
/// unless `-f`.
pub fn rmi(paths: &Paths, args: RmiArgs) -> Result<i32> {
    let store = paths.open_store()?;
    let state = StateRoot::open(paths)?;
    let mut code = 0;
    for name in &args.images {
        let result = (|| -> Result<()> {
            let image = store.inspect(name)?;
            let digest = image.manifest_digest().to_string();
            if !args.force {
                for dir in state.list()? {
                    if dir.spec().is_ok_and(|s| s.image_pinned.ends_with(&digest)) {
                        return Err(CliError::new(format!(
                            "conflict: unable to remove repository reference \"{name}\" (must force) - container {} is using its referenced image",
                            dir.short_id()
                        )));
                    }
                }
            }
            store.remove(name)?;
            println!("Untagged: {name}");
            Ok(())
        })();
        if let Err(e) = result {
            eprintln!("nsbox: {}", e.message);
            code = e.code;
        }
    }
    Ok(code)
}

/// `image prune`: layers and blobs no image uses (never a layer a running container uses).
pub fn prune(paths: &Paths) -> Result<i32> {
    let report = paths.open_store()?.gc()?;
    for layer in &report.layers_removed {
        println!("deleted: {layer}");
    }
    println!(
        "Total reclaimed space: {} (blobs; {} layers removed, {} in use kept)",
        human_size(report.blob_bytes_freed),
        report.layers_removed.len(),
        report.layers_in_use.len()
    );
    Ok(0)
}

fn human_size(bytes: u64) -> String {
    match bytes {
        0..1000 => format!("{bytes}B"),
        1000..1_000_000 => format!("{:.1}kB", bytes as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}MB", bytes as f64 / 1e6),
        _ => format!("{:.2}GB", bytes as f64 / 1e9),
    }
}
