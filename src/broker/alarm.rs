//! The free-disk alarm, as RabbitMQ's `disk_free_limit`: while the filesystem that holds the
//! data directory has less free space than the limit, connections that publish are blocked
//! (no longer read from, and told with connection.blocked if they asked to be), so a filling
//! disk stops taking messages before a write fails. Consumers go on draining queues meanwhile,
//! which is what frees the disk; the alarm clears by itself when space returns.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// RabbitMQ's default `disk_free_limit.absolute`: 50 MB.
pub const DEFAULT_DISK_FREE_LIMIT: u64 = 50_000_000;

/// How often the free space is read while the broker serves.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The reason connection.blocked carries, RabbitMQ's words.
pub const LOW_ON_DISK: &str = "low on disk";

#[derive(Debug)]
pub struct DiskAlarm {
    /// The data directory; without one nothing is written to disk and the alarm never rises.
    dir: Option<PathBuf>,
    limit: AtomicU64,
    /// The alarm's state for the publish path, which reads it for every basic.publish: an
    /// atomic load, where the watch below takes a lock. Written together with `raised`.
    up: AtomicBool,
    /// The same state, for connections waiting for the alarm to clear.
    raised: watch::Sender<bool>,
}

impl DiskAlarm {
    pub fn new(dir: Option<PathBuf>) -> DiskAlarm {
        DiskAlarm {
            dir,
            limit: AtomicU64::new(DEFAULT_DISK_FREE_LIMIT),
            up: AtomicBool::new(false),
            raised: watch::Sender::new(false),
        }
    }

    pub fn is_raised(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Resolves once the alarm is down (at once if it is).
    pub async fn cleared(&self) {
        let mut rx = self.raised.subscribe();
        // The sender lives in `self`, so the wait cannot fail.
        let _ = rx.wait_for(|raised| !*raised).await;
    }

    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Sets the limit in bytes (as `rabbitmqctl set_disk_free_limit`) and applies it at once.
    pub fn set_limit(&self, bytes: u64) {
        self.limit.store(bytes, Ordering::Relaxed);
        self.check();
    }

    /// Bytes available to the broker on the data directory's filesystem.
    pub fn free_bytes(&self) -> Option<u64> {
        let dir = self.dir.as_ref()?;
        match rustix::fs::statvfs(dir) {
            Ok(st) => Some(st.f_bavail.saturating_mul(st.f_frsize)),
            Err(e) => {
                tracing::debug!("cannot read the free space of {}: {e}", dir.display());
                None
            }
        }
    }

    /// Reads the free space and raises or clears the alarm; a space that cannot be read
    /// leaves it as it is.
    pub fn check(&self) {
        let Some(free) = self.free_bytes() else {
            return;
        };
        let limit = self.limit();
        let low = free < limit;
        self.raised.send_if_modified(|raised| {
            if *raised == low {
                return false;
            }
            *raised = low;
            self.up.store(low, Ordering::Release);
            if low {
                tracing::warn!(
                    "disk alarm: {free} bytes free, below the limit of {limit}; publishing connections are blocked"
                );
            } else {
                tracing::info!("disk alarm cleared: {free} bytes free, limit {limit}");
            }
            true
        });
    }
}
