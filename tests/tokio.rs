//! Containers in tokio programs (feature `tokio`): waits that park no thread, concurrent
//! output, async stdio, cancel-safe timeouts. `scripts/test --features tokio --test tokio`.
#![cfg(feature = "tokio")]

mod common;

use std::sync::mpsc;
use std::time::Duration;

use nsbox::{Container, Signal, Stdio};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs `future` on a fresh runtime in a thread of its own; fails the test if it has not
/// finished after `bound` (a wait that blocked the runtime's only thread would hang forever).
fn run_bounded<F>(multi_thread: bool, bound: Duration, future: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut builder = if multi_thread {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        let runtime = builder.enable_all().build().unwrap();
        let _ = tx.send(runtime.block_on(future));
    });
    rx.recv_timeout(bound)
        .expect("the async run did not finish: something blocked the runtime")
}

#[test]
fn a_hundred_concurrent_containers_under_a_multithreaded_runtime_all_answer_right() {
    if !common::root() {
        return;
    }
    let outputs = run_bounded(true, Duration::from_secs(120), async {
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                tokio::spawn(async move {
                    Container::builder()
                        .command("/bin/sh")
                        .args(["-c", &format!("sleep 0.1; echo {i}")])
                        .output_async()
                        .await
                })
            })
            .collect();
        let mut outputs = Vec::new();
        for task in tasks {
            outputs.push(task.await.unwrap().unwrap());
        }
        outputs
    });
    for (i, out) in outputs.iter().enumerate() {
        assert!(out.status.success(), "{}", out.status);
        assert_eq!(out.stdout, format!("{i}\n").into_bytes());
    }
}

/// One runtime thread: the wait and the task feeding the container's stdin must take turns.
/// Were the wait to block the thread, `cat` would never see EOF and the run would hang.
#[test]
fn waiting_parks_no_thread_on_a_single_threaded_runtime() {
    if !common::root() {
        return;
    }
    let (status, echoed) = run_bounded(false, Duration::from_secs(30), async {
        let mut c = Container::builder()
            .command("/bin/cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = c.take_stdin().unwrap().into_async().unwrap();
        let mut stdout = c.take_stdout().unwrap().into_async().unwrap();
        let feed = async move {
            tokio::time::sleep(Duration::from_millis(50)).await; // the wait is parked by now
            stdin.write_all(b"through the pipe").await.unwrap();
            drop(stdin);
            let mut echoed = String::new();
            stdout.read_to_string(&mut echoed).await.unwrap();
            echoed
        };
        let (status, echoed) = tokio::join!(c.wait_async(), feed);
        (status.unwrap(), echoed)
    });
    assert!(status.success(), "{status}");
    assert_eq!(echoed, "through the pipe");
}

/// A timeout that fires reaps nothing: the container still runs, and a later wait sees it end.
#[test]
fn wait_timeout_async_is_cancel_safe() {
    if !common::root() {
        return;
    }
    let (timed_out, still_running, status) = run_bounded(true, Duration::from_secs(30), async {
        let mut c = Container::builder().command("/bin/sleep").arg("30").spawn().unwrap();
        let timed_out = c.wait_timeout_async(Duration::from_millis(100)).await.unwrap();
        let still_running = c.try_wait().unwrap().is_none();
        c.kill(Signal::SIGKILL).unwrap();
        (timed_out, still_running, c.wait_async().await.unwrap())
    });
    assert_eq!(timed_out, None);
    assert!(still_running, "the timed-out wait reaped the container");
    assert_eq!(status.signal(), Some(Signal::SIGKILL));
}

#[test]
fn output_async_keeps_the_output_limit_and_stop_async_ends_a_stubborn_payload() {
    if !common::root() {
        return;
    }
    let (out, stopped) = run_bounded(true, Duration::from_secs(30), async {
        let out = Container::builder()
            .command("/bin/sh")
            .args(["-c", "printf '%0100d' 0"])
            .output_limit(10)
            .output_async()
            .await
            .unwrap();
        let mut c = Container::builder()
            .command("/bin/sh")
            .args(["-c", "trap '' TERM; echo ready; sleep 30 & wait"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        // Stopped once the trap is set: SIGTERM before it would simply end the shell.
        let mut ready = [0u8; 6];
        c.take_stdout()
            .unwrap()
            .into_async()
            .unwrap()
            .read_exact(&mut ready)
            .await
            .unwrap();
        (out, c.stop_async(Duration::from_millis(200)).await.unwrap())
    });
    assert_eq!(out.stdout, b"0000000000");
    assert!(out.stdout_truncated);
    assert_eq!(stopped.signal(), Some(Signal::SIGKILL));
}
