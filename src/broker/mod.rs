//! The broker core: vhosts, exchanges, bindings, queues and consumers, in memory.
//!
//! It knows nothing of frames or sockets: channels call into it with plain values and get
//! `BrokerError`s back.
//!
//! # Lock order
//! A thread may take, in this order and never the reverse:
//! 1. a `DashMap` shard of a vhost's exchange or queue map (held only for a lookup or an
//!    insert; never while calling into an exchange or queue),
//! 2. an exchange's binding table (`RwLock`, read on the publish path),
//! 3. a queue's state (`Mutex`).
//!
//! A queue never calls back into an exchange or a map while holding its lock; it only sends
//! to consumers' unbounded channels. What it decides for the rest of the broker
//! (dead-letter these messages, delete me) it hands to its vhost after releasing the lock
//! (`queue::Effects`), and the vhost routes them from there. No lock is held across an `.await`. Publishing to queue
//! A never waits on queue B: routing releases the exchange's lock before pushing to queues.

pub mod alarm;
pub mod backlog;
pub mod consumer;
pub mod dead_letter;
pub mod error;
pub mod exchange;
pub mod message;
pub mod names;
pub mod queue;
pub mod timer;
pub mod vhost;

pub use error::BrokerError;
pub use vhost::VHost;

use crate::store::StoreError;
use alarm::DiskAlarm;
use dashmap::DashMap;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A user and where it may log in from.
#[derive(Debug, Clone)]
pub struct User {
    pub password: String,
    /// RabbitMQ lets the default guest user in from loopback addresses only.
    pub loopback_only: bool,
}

/// Everything the broker holds, shared by every connection.
#[derive(Debug)]
pub struct Core {
    vhosts: DashMap<String, Arc<VHost>>,
    users: HashMap<String, User>,
    next_connection: AtomicU64,
    disk_alarm: Arc<DiskAlarm>,
}

impl Default for Core {
    fn default() -> Self {
        Self::new()
    }
}

impl Core {
    /// A broker with vhost "/" and user guest/guest (loopback only), as RabbitMQ starts,
    /// all in memory.
    pub fn new() -> Core {
        Self::with_vhost(VHost::new("/"), None)
    }

    /// Like `new`, with durable state kept in (and recovered from) `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Core, StoreError> {
        Ok(Self::with_vhost(
            VHost::open("/", data_dir)?,
            Some(data_dir.to_owned()),
        ))
    }

    fn with_vhost(vhost: Arc<VHost>, data_dir: Option<std::path::PathBuf>) -> Core {
        let vhosts = DashMap::new();
        vhosts.insert(vhost.name.clone(), vhost);
        let mut users = HashMap::new();
        users.insert(
            "guest".to_owned(),
            User {
                password: "guest".to_owned(),
                loopback_only: true,
            },
        );
        Core {
            vhosts,
            users,
            next_connection: AtomicU64::new(1),
            disk_alarm: Arc::new(DiskAlarm::new(data_dir)),
        }
    }

    pub fn vhost(&self, name: &str) -> Option<Arc<VHost>> {
        self.vhosts.get(name).map(|v| v.clone())
    }

    /// Whether `user` may log in with `password` from a peer that is (or is not) on loopback.
    pub fn authenticate(&self, user: &str, password: &str, from_loopback: bool) -> bool {
        match self.users.get(user) {
            Some(u) => u.password == password && (from_loopback || !u.loopback_only),
            None => false,
        }
    }

    /// Whether `user` exists and may connect from a peer that is (or is not) on loopback,
    /// with no password: for SASL EXTERNAL, where TLS has verified who the peer is.
    pub fn user_may_connect(&self, user: &str, from_loopback: bool) -> bool {
        self.users
            .get(user)
            .is_some_and(|u| from_loopback || !u.loopback_only)
    }

    /// Stops the message stores. After a clean stop (every connection closed properly, so
    /// unacked messages are back in their queues) each vhost leaves an index of its queues,
    /// which spares the next start a scan of the log.
    pub fn close(&self, clean: bool) {
        for v in self.vhosts.iter() {
            v.close(clean);
        }
    }

    pub fn disk_alarm(&self) -> &Arc<DiskAlarm> {
        &self.disk_alarm
    }

    pub fn next_connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }
}
