//! Load: requests signed ahead on every core, then posted with a number
//! of concurrent tasks, so the load generator spends its time on HTTP.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::rpc::Rpc;
use crate::{body_text, Who};

/// Signs `n` sends from `from` to `to[i % len]` on every core; returns
/// (JSON-RPC body, message_id) pairs.
pub(crate) fn presign(rpc: &Rpc, from: &Who, to: &[String], n: usize, size: usize) -> Vec<(String, String)> {
    let text = body_text(size);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = n.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let text = &text;
                s.spawn(move || {
                    (t * chunk..((t + 1) * chunk).min(n))
                        .map(|i| {
                            let m = from.send(&to[i % to.len()], text);
                            let id = m.message_id().unwrap();
                            (rpc.body(&m), id)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

/// Posts every body with `clients` concurrent tasks; stops at `deadline`.
/// Returns (accepted, refused, seconds).
pub(crate) async fn blast(
    rpc: &Arc<Rpc>,
    bodies: Vec<(String, String)>,
    clients: usize,
    deadline: Option<Instant>,
) -> (usize, usize, f64) {
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let (ok, bad) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (rpc, queue, ok, bad) = (rpc.clone(), queue.clone(), ok.clone(), bad.clone());
            tokio::spawn(async move {
                loop {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    let Some((body, _)) = queue.lock().unwrap().pop() else {
                        break;
                    };
                    match rpc.post(body).await {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(_) => bad.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    (
        ok.load(Ordering::Relaxed),
        bad.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
    )
}
