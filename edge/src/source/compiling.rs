//! Where documents are parsed and compiled: threads of their own, one per
//! core, at the lowest priority the kernel gives an unprivileged thread
//! (nice 19 on Linux).
//!
//! A swap costs about 5 ms of CPU per 100 KB document (BENCHMARKS.md). On
//! tokio's blocking pool at normal priority that CPU was taken from the
//! requests in flight on a busy edge, which the swap run measured as tail
//! latency. At the lowest priority the kernel runs a compile when the request
//! threads leave a core idle, so under load a swap waits rather than the
//! requests; on an idle edge it runs as fast as before. A nice-19 thread still
//! gets a small share of a saturated core, so no document waits forever.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::OnceLock;

use bytes::Bytes;
use thread_priority::{ThreadPriority, set_current_thread_priority};
use tokio::sync::oneshot;

use crate::environment::{LoadError, ServedEnvironment};

type Loaded = std::thread::Result<Result<ServedEnvironment, LoadError>>;

/// The queue of documents to compile, and where each answer goes.
static QUEUE: OnceLock<flume::Sender<(Bytes, oneshot::Sender<Loaded>)>> = OnceLock::new();

/// Validates and compiles a document on a compiling thread.
pub async fn compile(bytes: Bytes) -> Result<ServedEnvironment, LoadError> {
    let (answer, answered) = oneshot::channel();
    // The threads hold the receiver for the life of the process.
    let _ = queue().send((bytes, answer));
    match answered.await {
        Ok(Ok(loaded)) => loaded,
        Ok(Err(panic)) => resume_unwind(panic),
        Err(_) => unreachable!("a compiling thread ended"),
    }
}

fn queue() -> &'static flume::Sender<(Bytes, oneshot::Sender<Loaded>)> {
    QUEUE.get_or_init(|| {
        let (sender, receiver) = flume::unbounded::<(Bytes, oneshot::Sender<Loaded>)>();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        for index in 0..threads {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("flagedge-compile-{index}"))
                .spawn(move || {
                    if let Err(error) = set_current_thread_priority(ThreadPriority::Min) {
                        tracing::warn!(?error, "compiling at normal priority");
                    }
                    for (bytes, answer) in receiver.iter() {
                        // A panic is the caller's, as it was on tokio's pool.
                        let loaded =
                            catch_unwind(AssertUnwindSafe(|| ServedEnvironment::load(bytes)));
                        let _ = answer.send(loaded);
                    }
                })
                .expect("start a compiling thread");
        }
        sender
    })
}
