//! Durable state on disk: definitions (exchanges, queues, bindings) and the message log.
//! Knows nothing of AMQP methods; the broker decides what is durable and calls in.
//!
//! Layout of a data directory:
//! ```text
//! DIR/vhosts/<hex of vhost name>/definitions.dat   snapshot of durable definitions
//! DIR/vhosts/<hex of vhost name>/log/NNNNNNNN.seg  persistent messages (see `log`)
//! DIR/vhosts/<hex of vhost name>/log/NNNNNNNN.ack  settlements of that segment's messages
//! DIR/vhosts/<hex of vhost name>/log/index.dat     queue contents at a clean stop (see `index`)
//! DIR/vhosts/<hex of vhost name>/streams/<queue number>/  a stream's segments (see `stream`)
//! ```

pub mod index;
pub mod log;
pub mod meta;
pub mod record;
pub mod run;
pub mod stream;

pub use log::{Durability, Event, LogMessage, MessageLog, Recovered, RecoveredQueue, Slot};
pub use meta::Definitions;
pub use run::{Position, Run, push_position};

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub fn io(what: impl Into<String>, source: std::io::Error) -> StoreError {
        StoreError::Io {
            what: what.into(),
            source,
        }
    }
}

/// Where a vhost's durable state lives: its name in hex, so any name is a safe file name.
pub fn vhost_dir(data_dir: &Path, vhost: &str) -> PathBuf {
    let hex: String = vhost.bytes().map(|b| format!("{b:02x}")).collect();
    data_dir
        .join("vhosts")
        .join(if hex.is_empty() { "00".into() } else { hex })
}

/// The vhosts that have a directory under `data_dir` (names decoded from their hex).
pub fn vhosts_on_disk(data_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("vhosts")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let hex = e.file_name().into_string().ok()?;
            if hex == "00" {
                return Some(String::new());
            }
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                .collect::<Option<Vec<u8>>>()?;
            String::from_utf8(bytes).ok()
        })
        .collect();
    names.sort();
    names
}

/// One vhost's durable state.
#[derive(Debug)]
pub struct VhostStore {
    dir: PathBuf,
    /// Serialises snapshot writes, so the last change always wins on disk.
    save_lock: Mutex<()>,
    pub log: MessageLog,
}

/// What a vhost finds on disk at start-up.
pub struct Opened {
    pub store: VhostStore,
    pub definitions: Definitions,
    pub messages: HashMap<u32, RecoveredQueue>,
}

impl VhostStore {
    /// Opens (creating if needed) the store of `vhost` under `data_dir`, recovering its state
    /// with at most `keep_in_memory` messages of each queue read into memory.
    pub fn open(data_dir: &Path, vhost: &str, keep_in_memory: usize) -> Result<Opened, StoreError> {
        let dir = vhost_dir(data_dir, vhost);
        std::fs::create_dir_all(&dir)
            .map_err(|e| StoreError::io("creating the vhost directory", e))?;
        let definitions = Definitions::load(&dir)?;
        let queues: HashSet<u32> = definitions.queues.iter().map(|q| q.id).collect();
        stream::remove_orphans(&dir.join("streams"), &queues);
        let (log, messages) = MessageLog::open(&dir.join("log"), &queues, keep_in_memory)?;
        Ok(Opened {
            store: VhostStore {
                dir,
                save_lock: Mutex::new(()),
                log,
            },
            definitions,
            messages,
        })
    }

    /// Where the stream numbered `id` in this vhost keeps its segments.
    pub fn stream_dir(&self, id: u32) -> PathBuf {
        self.dir.join("streams").join(id.to_string())
    }

    /// Replaces the definitions snapshot. `snapshot` is called under the save lock, so two
    /// concurrent changes cannot write their snapshots in the wrong order.
    pub fn save_definitions(
        &self,
        snapshot: impl FnOnce() -> Definitions,
    ) -> Result<(), StoreError> {
        let _guard = self.save_lock.lock().unwrap_or_else(|p| p.into_inner());
        snapshot().save(&self.dir)
    }
}
