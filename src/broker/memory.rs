//! The memory alarm, as RabbitMQ's `vm_memory_high_watermark`: while the broker holds more
//! memory than its watermark, connections that publish are blocked (see `alarm`), so a
//! broker whose consumers fall behind stops taking messages before the OS kills it.
//! Consumers go on, and what they drain brings memory back down; with a data directory,
//! queues also page their in-memory messages to disk from half the watermark on (RabbitMQ's
//! default `vm_memory_high_watermark_paging_ratio`), which frees memory without a consumer.
//!
//! # What is measured
//! The alarm is driven by the broker's own accounting, not by the process's RSS: the bytes
//! held by messages (payload and bookkeeping, wherever they are: queued, unacked, in flight)
//! and by connections' read and unwritten output buffers. RSS is read too
//! (`/proc/self/status`, as RabbitMQ's `rss` strategy does) and reported, but does not trigger:
//! the allocator keeps freed pages, so RSS can stay above a watermark long after the messages
//! are gone and would leave publishers blocked with nothing left to drain.
//!
//! The account is one process-wide counter, as the memory is the process's: brokers embedded
//! in one process share it. Each thread adds and subtracts in a thread-local tally that it
//! folds into the counter once it has moved `BATCH` bytes either way, so the publish path
//! pays a thread-local add per message and touches the shared cache line once per 64 KiB.
//! The counter is therefore behind by at most `BATCH` per thread.

use super::alarm::{AlarmSet, Resource};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// Bytes held, as folded in by every thread.
static USED: AtomicI64 = AtomicI64::new(0);

/// A thread folds its tally into `USED` past this many bytes either way.
const BATCH: i64 = 64 * 1024;

/// A thread's tally not yet in `USED`; folded in when the thread exits.
struct Tally(Cell<i64>);

impl Drop for Tally {
    fn drop(&mut self) {
        USED.fetch_add(self.0.get(), Ordering::Relaxed);
    }
}

thread_local! {
    static TALLY: Tally = const { Tally(Cell::new(0)) };
}

/// Counts `delta` bytes as taken (positive) or given back (negative).
pub fn charge(delta: i64) {
    let folded = TALLY.try_with(|t| {
        let v = t.0.get() + delta;
        if v.abs() >= BATCH {
            USED.fetch_add(v, Ordering::Relaxed);
            t.0.set(0);
        } else {
            t.0.set(v);
        }
    });
    // The thread is exiting and its tally is gone: count directly.
    if folded.is_err() {
        USED.fetch_add(delta, Ordering::Relaxed);
    }
}

/// What an allocation of `n` bytes takes from the allocator: the request rounded up to its
/// size class. Allocators such as mimalloc (the broker binary's) and jemalloc keep four
/// classes per power of two, so a 1,040-byte message takes 1,280 bytes; counting only what
/// was asked for let RSS pass the watermark by a quarter of it. Under glibc, whose chunks
/// fit more closely, this counts a little more than is taken: the alarm errs early.
pub fn allocated(n: usize) -> usize {
    if n <= 64 {
        return n.next_multiple_of(8);
    }
    let class_step = 1usize << ((usize::BITS - 1 - (n - 1).leading_zeros()) - 2);
    n.next_multiple_of(class_step)
}

/// Bytes the process's messages and buffers hold, by the broker's account.
pub fn used() -> u64 {
    USED.load(Ordering::Relaxed).max(0) as u64
}

/// The process's resident set (VmRSS in `/proc/self/status`, the figure `statm` gives in
/// pages); None where there is no such file.
pub fn rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    kilobytes(&status, "VmRSS:")
}

/// A `NAME:   123 kB` line of a /proc file, in bytes.
fn kilobytes(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kb| kb.trim().parse::<u64>().ok())
        .map(|kb| kb.saturating_mul(1024))
}

/// Physical memory, from `/proc/meminfo`; RabbitMQ's assumption of 1 GiB where it cannot be
/// read.
pub fn total_memory() -> u64 {
    const ASSUMED: u64 = 1 << 30;
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| kilobytes(&info, "MemTotal:"))
        .unwrap_or(ASSUMED)
}

/// RabbitMQ's default watermark: 40% of physical memory.
pub const DEFAULT_WATERMARK: Watermark = Watermark::Relative(0.4);

/// From this fraction of the watermark on, queues page messages to disk (RabbitMQ's default
/// `vm_memory_high_watermark_paging_ratio`).
pub const PAGING_RATIO: f64 = 0.5;

/// How often the monitor looks at memory while the broker serves: often enough that a
/// publisher flood is caught within a few MB, and an alarm clears soon after memory falls.
/// (Raising also happens at once on a connection's next read, see `MemoryAlarm::poll`.)
pub const CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// `--memory-high-watermark`: a fraction of physical memory or a size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Watermark {
    Relative(f64),
    Absolute(u64),
}

impl Watermark {
    /// The limit in bytes on a machine with `total` bytes of memory.
    pub fn bytes(self, total: u64) -> u64 {
        match self {
            Watermark::Relative(f) => (total as f64 * f) as u64,
            Watermark::Absolute(n) => n,
        }
    }

    /// A fraction (`0.4`: has a decimal point, at most 1) or a size as `parse_size` reads it
    /// (`512MiB`, `1GB`, `1000000`).
    pub fn parse(text: &str) -> Result<Watermark, String> {
        let t = text.trim();
        if t.contains('.') {
            let f: f64 = t
                .parse()
                .map_err(|_| format!("{text:?} is neither a fraction like 0.4 nor a size"))?;
            if !(0.0..=1.0).contains(&f) {
                return Err(format!("{text:?}: a fraction of memory is between 0 and 1"));
            }
            return Ok(Watermark::Relative(f));
        }
        crate::config::parse_size(t).map(Watermark::Absolute)
    }
}

#[derive(Debug)]
pub struct MemoryAlarm {
    alarms: std::sync::Arc<AlarmSet>,
    /// As configured, for reporting; `limit` is what is compared against.
    watermark: Mutex<Watermark>,
    limit: AtomicU64,
    /// At or above `PAGING_RATIO` of the limit: queues page to disk.
    paging: AtomicBool,
    /// A consumer without a prefetch window was held back under the alarm since the monitor
    /// last woke the queues (see `consumer::UNACKED_UNDER_MEMORY_ALARM`). Per broker, as the
    /// alarm is: another broker in the process has its own consumers to wake.
    held: AtomicBool,
    total: u64,
}

impl MemoryAlarm {
    pub fn new(alarms: std::sync::Arc<AlarmSet>) -> MemoryAlarm {
        let total = total_memory();
        MemoryAlarm {
            alarms,
            watermark: Mutex::new(DEFAULT_WATERMARK),
            limit: AtomicU64::new(DEFAULT_WATERMARK.bytes(total)),
            paging: AtomicBool::new(false),
            held: AtomicBool::new(false),
            total,
        }
    }

    /// Sets the watermark (as `rabbitmqctl set_vm_memory_high_watermark`) and applies it at
    /// once.
    pub fn set_watermark(&self, w: Watermark) {
        *self.watermark.lock().unwrap_or_else(|p| p.into_inner()) = w;
        self.limit.store(w.bytes(self.total), Ordering::Relaxed);
        self.check();
    }

    pub fn watermark(&self) -> Watermark {
        *self.watermark.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The watermark in bytes (RabbitMQ's `mem_limit`).
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Bytes held by the broker's account (RabbitMQ's `mem_used`).
    pub fn used(&self) -> u64 {
        used()
    }

    pub fn is_raised(&self) -> bool {
        self.alarms.is_raised(Resource::Memory)
    }

    /// Whether memory is short right now: raises the alarm at once if memory is over the
    /// watermark (see `poll`). A consumer held back for it is remembered (`take_held`).
    pub fn holds_back(&self) -> bool {
        self.poll();
        if !self.is_raised() {
            return false;
        }
        self.held.store(true, Ordering::Relaxed);
        true
    }

    /// Whether a consumer was held back since the last call while the alarm is down now:
    /// then every queue should dispatch again, as nothing else wakes a consumer that does
    /// not ack.
    pub fn take_held(&self) -> bool {
        !self.is_raised()
            && self.held.load(Ordering::Relaxed)
            && self.held.swap(false, Ordering::Relaxed)
    }

    /// Whether queues should page their messages to disk.
    pub fn is_paging(&self) -> bool {
        self.paging.load(Ordering::Relaxed)
    }

    /// Raises the alarm if memory is over the watermark: two loads when it is not, so a
    /// connection can call it for every read and block at the very next publish. Only
    /// `check` clears, on the monitor's clock, so the alarm does not flap per read.
    pub fn poll(&self) {
        if !self.is_raised() && used() >= self.limit() {
            self.check();
        }
    }

    /// Compares memory with the watermark: raises or clears the alarm, starts or stops
    /// paging. Returns whether queues should page.
    pub fn check(&self) -> bool {
        let (used, limit) = (used(), self.limit());
        let paging = used as f64 >= limit as f64 * PAGING_RATIO;
        if self.paging.swap(paging, Ordering::Relaxed) != paging && paging {
            tracing::info!("memory {used} bytes, half the watermark of {limit}: paging to disk");
        }
        let over = used >= limit;
        if self.alarms.set(Resource::Memory, over) {
            if over {
                tracing::warn!(
                    "memory alarm: {used} bytes used, above the watermark of {limit}; publishing connections are blocked"
                );
            } else {
                tracing::info!("memory alarm cleared: {used} bytes used, watermark {limit}");
            }
        }
        paging
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_are_counted_at_their_size_class() {
        let cases = [
            (1, 8),
            (64, 64),
            (65, 80),
            (80, 80),
            (1024, 1024),
            (1025, 1280),
            (1040, 1280),
            (1537, 1792),
            (4096, 4096),
            (100_000, 114_688),
        ];
        for (asked, taken) in cases {
            assert_eq!(allocated(asked), taken, "{asked} bytes");
        }
    }

    #[test]
    fn watermarks_parse_as_fractions_or_sizes() {
        assert_eq!(Watermark::parse("0.4"), Ok(Watermark::Relative(0.4)));
        assert_eq!(
            Watermark::parse("512MiB"),
            Ok(Watermark::Absolute(512 << 20))
        );
        assert_eq!(Watermark::parse("1000"), Ok(Watermark::Absolute(1000)));
        assert!(Watermark::parse("1.5").is_err());
        assert!(Watermark::parse("lots").is_err());
        assert_eq!(Watermark::Relative(0.5).bytes(1000), 500);
    }

    #[test]
    fn a_thread_tally_reaches_the_counter_in_batches_and_when_the_thread_ends() {
        // Other tests in this process charge the shared counter too: look at the tally.
        std::thread::spawn(|| {
            let tally = || TALLY.with(|t| t.0.get());
            charge(1000);
            assert_eq!(tally(), 1000);
            charge(BATCH);
            assert_eq!(tally(), 0, "folded into the counter");
            charge(-1000);
            assert_eq!(tally(), -1000);
            charge(-BATCH);
            assert_eq!(tally(), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn total_memory_and_rss_read_on_linux() {
        assert!(total_memory() >= 1 << 20);
        if cfg!(target_os = "linux") {
            assert!(rss().is_some_and(|r| r > 0));
        }
    }
}
