//! A tokio program running 100 containers at once and collecting their output, without a
//! thread blocked on any of them: `cargo run --features tokio --example tokio_many` (as root).

use nsbox::Container;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            tokio::spawn(async move {
                Container::builder()
                    .command("/bin/sh")
                    .args(["-c", &format!("sleep 0.2; echo container {i}")])
                    .output_async()
                    .await
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let out = task.await??;
        assert!(out.status.success(), "{}", out.status);
        assert_eq!(String::from_utf8(out.stdout)?, format!("container {i}\n"));
    }
    println!("100 containers, every output right, in {:?}", started.elapsed());
    Ok(())
}
