//! Resource alarms, as RabbitMQ's: the set of resources the broker is short of (disk,
//! memory), and the free-disk alarm (`disk_free_limit`; the memory alarm is in `memory`).
//!
//! While any alarm is up, connections that publish are blocked (no longer read from, and
//! told with connection.blocked if they asked to be), so a filling disk or memory stops
//! taking messages before a write or an allocation fails. Consumers go on draining queues
//! meanwhile, which is what frees the resource; a connection is unblocked once every alarm
//! has cleared.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// A resource an alarm watches; a bit in `AlarmSet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Resource {
    Disk = 1,
    Memory = 2,
}

/// The alarms that are up, shared by the alarms that raise them and the connections they
/// block.
#[derive(Debug)]
pub struct AlarmSet {
    /// The bits, for the publish path, which reads them for every basic.publish: an atomic
    /// load, where the watch below takes a lock. Written together with `state`.
    up: AtomicU8,
    /// The same bits, for connections waiting for every alarm to clear.
    state: watch::Sender<u8>,
    /// Alarms raised by the monitors (low bits) and by a test (`simulate`, high bits): a
    /// simulated alarm stays up whatever the monitor measures. Written under `state`.
    sources: AtomicU8,
}

/// Where a test's simulated alarms sit in `AlarmSet::sources`.
const SIMULATED_SHIFT: u8 = 4;

impl Default for AlarmSet {
    fn default() -> Self {
        AlarmSet {
            up: AtomicU8::new(0),
            state: watch::Sender::new(0),
            sources: AtomicU8::new(0),
        }
    }
}

impl AlarmSet {
    /// Whether any alarm is up.
    pub fn any(&self) -> bool {
        self.up.load(Ordering::Acquire) != 0
    }

    pub fn is_raised(&self, r: Resource) -> bool {
        self.up.load(Ordering::Acquire) & r as u8 != 0
    }

    /// Raises or clears `r`'s alarm, as its monitor measures; returns whether that changed
    /// anything.
    pub fn set(&self, r: Resource, raised: bool) -> bool {
        self.change(r as u8, raised)
    }

    /// Raises or clears a test's simulated alarm on `r`, which holds whatever the monitor
    /// says; returns whether that changed anything.
    pub fn simulate(&self, r: Resource, raised: bool) -> bool {
        self.change((r as u8) << SIMULATED_SHIFT, raised)
    }

    /// Clears every simulated alarm.
    pub fn clear_simulated(&self) {
        self.simulate(Resource::Disk, false);
        self.simulate(Resource::Memory, false);
    }

    fn change(&self, source_bit: u8, raised: bool) -> bool {
        self.state.send_if_modified(|bits| {
            let sources = self.sources.load(Ordering::Acquire);
            let sources = if raised {
                sources | source_bit
            } else {
                sources & !source_bit
            };
            self.sources.store(sources, Ordering::Release);
            let new = (sources | (sources >> SIMULATED_SHIFT)) & 0x0f;
            if new == *bits {
                return false;
            }
            *bits = new;
            self.up.store(new, Ordering::Release);
            true
        })
    }

    /// Resolves once no alarm is up (at once if none is).
    pub async fn cleared(&self) {
        let mut rx = self.state.subscribe();
        // The sender lives in `self`, so the wait cannot fail.
        let _ = rx.wait_for(|bits| *bits == 0).await;
    }

    /// connection.blocked's reason, RabbitMQ's words for the alarms up when a connection is
    /// blocked: "low on disk", "low on memory", "low on disk & memory" (RabbitMQ 3.10 sends
    /// one blocked with the alarms up at that moment, and nothing when another rises later).
    pub fn reason(&self) -> String {
        let bits = self.up.load(Ordering::Acquire);
        let names: Vec<&str> = [(Resource::Disk, "disk"), (Resource::Memory, "memory")]
            .into_iter()
            .filter(|(r, _)| bits & *r as u8 != 0)
            .map(|(_, name)| name)
            .collect();
        format!("low on {}", names.join(" & "))
    }
}

/// RabbitMQ's default `disk_free_limit.absolute`: 50 MB.
pub const DEFAULT_DISK_FREE_LIMIT: u64 = 50_000_000;

/// How often the free space is read while the broker serves.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub struct DiskAlarm {
    /// The data directory; without one nothing is written to disk and the alarm never rises.
    dir: Option<PathBuf>,
    limit: AtomicU64,
    alarms: Arc<AlarmSet>,
}

impl DiskAlarm {
    pub fn new(dir: Option<PathBuf>, alarms: Arc<AlarmSet>) -> DiskAlarm {
        DiskAlarm {
            dir,
            limit: AtomicU64::new(DEFAULT_DISK_FREE_LIMIT),
            alarms,
        }
    }

    pub fn is_raised(&self) -> bool {
        self.alarms.is_raised(Resource::Disk)
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
        if self.alarms.set(Resource::Disk, low) {
            if low {
                tracing::warn!(
                    "disk alarm: {free} bytes free, below the limit of {limit}; publishing connections are blocked"
                );
            } else {
                tracing::info!("disk alarm cleared: {free} bytes free, limit {limit}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_names_every_alarm_up_as_rabbitmq_does() {
        let set = AlarmSet::default();
        assert!(!set.any());
        assert!(set.set(Resource::Memory, true));
        assert!(!set.set(Resource::Memory, true), "no change");
        assert_eq!(set.reason(), "low on memory");
        set.set(Resource::Disk, true);
        assert_eq!(set.reason(), "low on disk & memory");
        set.set(Resource::Memory, false);
        assert_eq!(set.reason(), "low on disk");
        assert!(set.any() && set.is_raised(Resource::Disk) && !set.is_raised(Resource::Memory));
        set.set(Resource::Disk, false);
        assert!(!set.any());
    }
}
