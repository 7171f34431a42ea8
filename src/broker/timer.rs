//! The one owner of a vhost's deadlines: message TTLs and queue expiry.
//!
//! Queues ask to be woken at a time (`schedule`); one thread per vhost sleeps until the
//! earliest such time and calls the queue back (`Queue::on_timer`), which expires what is
//! due and asks again for its next deadline. A queue keeps at most a few wake-ups pending
//! (it schedules only when its next deadline moves earlier), so the heap stays about as
//! large as the number of queues with deadlines, and the cost of expiry is O(log queues) per
//! wake-up plus O(1) per expired message: nothing scans a queue or all queues per tick.
//!
//! Times are milliseconds since the Unix epoch, so deadlines written to disk stay meaningful
//! after a restart.

use super::queue::Queue;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Debug, Clone)]
pub struct Timer {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct State {
    heap: BinaryHeap<Reverse<Entry>>,
    next_id: u64,
    stopped: bool,
}

#[derive(Debug)]
struct Entry {
    at: u64,
    /// Ties broken by order of scheduling.
    id: u64,
    queue: Weak<Queue>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.id) == (other.at, other.id)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.id).cmp(&(other.at, other.id))
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Timer {
    /// A timer with its thread, named after the vhost.
    pub fn start(vhost: &str) -> Timer {
        let shared = Arc::new(Shared::default());
        let for_thread = shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("warren-timer {vhost}"))
            .spawn(move || run(&for_thread));
        if let Err(e) = spawned {
            tracing::error!(
                vhost,
                "cannot start the timer thread, nothing will expire: {e}"
            );
        }
        Timer { shared }
    }

    /// Calls `queue.on_timer` at (or soon after) `at`.
    pub fn schedule(&self, at: u64, queue: Weak<Queue>) {
        let mut st = self.shared.lock();
        if st.stopped {
            return;
        }
        let id = st.next_id;
        st.next_id += 1;
        let earliest = st.heap.peek().is_none_or(|Reverse(e)| at < e.at);
        st.heap.push(Reverse(Entry { at, id, queue }));
        drop(st);
        if earliest {
            self.shared.wake.notify_one();
        }
    }

    /// Ends the thread; what was scheduled is dropped.
    pub fn stop(&self) {
        let mut st = self.shared.lock();
        st.stopped = true;
        st.heap.clear();
        drop(st);
        self.shared.wake.notify_one();
    }
}

fn run(shared: &Shared) {
    let mut st = shared.lock();
    loop {
        if st.stopped {
            return;
        }
        let now = now_ms();
        let mut due = Vec::new();
        while let Some(Reverse(e)) = st.heap.peek() {
            if e.at > now {
                break;
            }
            if let Some(Reverse(e)) = st.heap.pop() {
                due.push(e.queue);
            }
        }
        if !due.is_empty() {
            drop(st);
            for q in due.iter().filter_map(Weak::upgrade) {
                q.on_timer();
            }
            st = shared.lock();
            continue;
        }
        let wait = match st.heap.peek() {
            Some(Reverse(e)) => Duration::from_millis(e.at - now),
            // Nothing scheduled: sleep until something is.
            None => Duration::from_secs(3600),
        };
        st = shared
            .wake
            .wait_timeout(st, wait)
            .map(|(g, _)| g)
            .unwrap_or_else(|p| p.into_inner().0);
    }
}
