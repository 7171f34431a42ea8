//! What makes Warren a test broker: a snapshot of its state to assert on, reset between
//! tests, per-test vhosts, fault injection, and recording connections to compare Warren with
//! another broker. All of it is reachable from the embedded [`crate::Broker`], over HTTP
//! under `/api/warren/` on the management listener, and from the command line; none of it
//! costs anything until a test uses it.
//!
//! - [`snapshot`], [`faults`]: the state as data, and fault plans; the broker core
//!   implements them (`broker::test_control`) and each connection plays its share of a
//!   fault plan (`connection::faults`).
//! - [`transcript`]: the JSON-lines record of a connection's frames, both ways.
//! - [`recorder`]: turns a connection's bytes into records, tapped at the socket.
//! - [`recordings`]: which connections the broker records, owned by `broker::Core`.
//! - [`replay`]: `warren replay`, re-sending a transcript's client side to any broker.
//! - [`diff`]: `warren diff`, the first semantic difference between two transcripts.
//! - [`cli`]: the two commands' arguments and exit codes.

pub mod cli;
pub mod diff;
pub mod faults;
pub mod recorder;
pub mod recordings;
pub mod replay;
pub mod snapshot;
pub mod transcript;

pub use faults::{Action, FaultPlan, Step, Target};
pub use recordings::{Recording, RecordingHandle, Recordings, Selector};
pub use snapshot::Snapshot;
pub use transcript::{Dir, Kind, Record};

/// A vhost made for one test, with a user that may use it and nothing else.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IsolatedVhost {
    pub vhost: String,
    pub user: String,
    pub password: String,
}

impl IsolatedVhost {
    /// The AMQP URL for this vhost and user on a broker listening at `addr`.
    pub fn url(&self, addr: std::net::SocketAddr) -> String {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        format!(
            "amqp://{}:{}@{addr}/{}",
            enc(&self.user),
            enc(&self.password),
            enc(&self.vhost)
        )
    }
}

/// A new, empty directory under the system's temporary one, for a broker's data.
pub fn temp_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "warren-{}-{}",
        std::process::id(),
        crate::broker::names::random_suffix()
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
