//! Test-broker features: what a user needs to compare Warren with another broker.
//!
//! - [`transcript`]: the JSON-lines record of a connection's frames, both ways.
//! - [`recorder`]: turns a connection's bytes into records, tapped at the socket.
//! - [`recordings`]: which connections the broker records, owned by `broker::Core`.
//! - [`replay`]: `warren replay`, re-sending a transcript's client side to any broker.
//! - [`diff`]: `warren diff`, the first semantic difference between two transcripts.
//! - [`cli`]: the two commands' arguments and exit codes.

pub mod cli;
pub mod diff;
pub mod recorder;
pub mod recordings;
pub mod replay;
pub mod transcript;

pub use recordings::{Recording, RecordingHandle, Recordings, Selector};
pub use transcript::{Dir, Kind, Record};
