//! A connection future that is polled again, in place, when it wakes
//! itself while being polled, instead of going back to the scheduler.
//!
//! Why: hyper serves an HTTP/1 request inside the connection's task, and
//! the request body travels from hyper's dispatcher to the handler through
//! a channel whose two ends live in that same task. Taking the body wakes
//! the task while it runs. Tokio's multi-thread scheduler treats a task
//! woken during its own poll as a yield: it queues it and wakes a parked
//! worker to steal it. At light load every call then wakes both runtime
//! workers, the request often finishes on the other core with cold caches,
//! and a call costs about 50 µs more server CPU (one more context switch
//! per call; `mcpmsg-bench --parts lowrate`, README). Polling again right
//! here is what the yield would have led to anyway, minus the second
//! worker. The number of immediate re-polls is bounded, so a connection
//! that keeps waking itself still yields to other tasks. The price is
//! fairness towards a client that pipelines: hyper serves at most 16
//! requests per poll before it yields by waking itself, so one task poll
//! may now serve up to `REPOLLS` times that, unless tokio's cooperative
//! budget (one per task poll, re-polls included; an exhausted budget
//! defers its wake until the worker has moved on) runs out first: 64
//! signed sends, about 4.5 ms of a worker, where it was 16 and about
//! 1 ms. MCP clients do not pipeline; a load generator could.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// How many times in a row a self-woken future is polled again before it
/// yields to the scheduler like any other task.
const REPOLLS: usize = 4;

/// Nobody is polling the inner future: a wake goes to the task.
const IDLE: u8 = 0;
/// The inner future is being polled and has not woken itself.
const POLLING: u8 = 1;
/// The inner future woke itself (or was woken) during this poll.
const WOKEN: u8 = 2;

/// The waker handed to the inner future.
struct Signal {
    /// IDLE, POLLING or WOKEN. One atomic, so a wake from another thread
    /// racing with the end of a poll is either seen by that poll (WOKEN) or
    /// forwarded to the task (IDLE): never lost.
    state: AtomicU8,
    /// The waker of the task that polls us, as of its last poll.
    task: AtomicWaker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        match self
            .state
            .compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire)
        {
            // Seen by the poll in progress, which polls again.
            Ok(_) => {}
            // Already noted during this poll.
            Err(WOKEN) => {}
            // Between polls: an ordinary wake.
            Err(_) => self.task.wake(),
        }
    }
}

/// Wraps `F` so that a wake during its own poll polls it again at once.
pub struct Repoll<F> {
    inner: Pin<Box<F>>,
    signal: Arc<Signal>,
    waker: Waker,
}

impl<F: Future> Repoll<F> {
    pub fn new(inner: F) -> Self {
        let signal = Arc::new(Signal {
            state: AtomicU8::new(IDLE),
            task: AtomicWaker::new(),
        });
        Self {
            inner: Box::pin(inner),
            waker: Waker::from(signal.clone()),
            signal,
        }
    }
}

impl<F: Future> Future for Repoll<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        // Registered before polling, so a wake after this poll reaches the
        // task that will poll next.
        this.signal.task.register(cx.waker());
        let mut inner_cx = Context::from_waker(&this.waker);
        for _ in 0..REPOLLS {
            this.signal.state.store(POLLING, Ordering::Release);
            let polled = this.inner.as_mut().poll(&mut inner_cx);
            let was = this.signal.state.swap(IDLE, Ordering::AcqRel);
            if polled.is_ready() {
                return polled;
            }
            if was == POLLING {
                // Not woken: wait for a wake, which now goes to the task.
                return Poll::Pending;
            }
        }
        // Still waking itself: let other tasks run first.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Counts the wakes the task receives.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Wakes itself `self_wakes` times during its polls, then waits for an
    /// outside wake through the waker it leaves in `parked`, then finishes.
    struct Script {
        self_wakes: usize,
        polls: usize,
        parked: Arc<std::sync::Mutex<Option<Waker>>>,
        released: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Future for Script {
        type Output = usize;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
            self.polls += 1;
            if self.self_wakes > 0 {
                self.self_wakes -= 1;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if self.released.load(Ordering::SeqCst) {
                return Poll::Ready(self.polls);
            }
            *self.parked.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    fn script(
        self_wakes: usize,
    ) -> (
        Script,
        Arc<std::sync::Mutex<Option<Waker>>>,
        Arc<std::sync::atomic::AtomicBool>,
    ) {
        let parked = Arc::new(std::sync::Mutex::new(None));
        let released = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = Script {
            self_wakes,
            polls: 0,
            parked: parked.clone(),
            released: released.clone(),
        };
        (s, parked, released)
    }

    #[test]
    fn a_self_wake_is_polled_again_without_waking_the_task() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let task = Waker::from(count.clone());
        let mut cx = Context::from_waker(&task);
        let (s, parked, released) = script(3);
        let mut f = Box::pin(Repoll::new(s));
        assert!(f.as_mut().poll(&mut cx).is_pending());
        // Three self-wakes were absorbed in one poll, and it now waits.
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        // An outside wake reaches the task, exactly once.
        released.store(true, Ordering::SeqCst);
        parked.lock().unwrap().take().unwrap().wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(f.as_mut().poll(&mut cx), Poll::Ready(5));
    }

    #[test]
    fn a_future_that_keeps_waking_itself_yields_after_the_bound() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let task = Waker::from(count.clone());
        let mut cx = Context::from_waker(&task);
        let (s, _parked, released) = script(REPOLLS + 2);
        released.store(true, Ordering::SeqCst);
        let mut f = Box::pin(Repoll::new(s));
        assert!(f.as_mut().poll(&mut cx).is_pending());
        // It yielded: the task was woken to come back.
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(f.as_mut().poll(&mut cx), Poll::Ready(REPOLLS + 3));
    }

    #[test]
    fn wakes_from_other_threads_are_never_lost() {
        // A future that finishes after 2,000 wakes, each from another
        // thread; the test ends only if every wake reached a poll.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
            let producer = std::thread::spawn(move || {
                for i in 0..2_000 {
                    tx.blocking_send(i).unwrap();
                }
            });
            let got = tokio::spawn(Repoll::new(async move {
                let mut n = 0;
                while rx.recv().await.is_some() {
                    n += 1;
                }
                n
            }));
            let n = tokio::time::timeout(std::time::Duration::from_secs(30), got)
                .await
                .expect("a wake was lost")
                .unwrap();
            producer.join().unwrap();
            assert_eq!(n, 2_000);
        });
    }
}
