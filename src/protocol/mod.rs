//! The AMQP 0-9-1 codec: frames, methods, content headers and field tables.
//!
//! Pure functions of bytes: no tokio and no broker types here, so every illegal input can be
//! tested without a socket.

pub mod frame;
pub mod methods;
pub mod properties;
pub mod publish;
pub mod wire;

pub use frame::{Frame, FrameError};
pub use methods::{Method, MethodError};
pub use properties::{BasicProperties, ContentHeader};
pub use wire::{FieldTable, FieldValue};

/// What a client must send first.
pub const PROTOCOL_HEADER: &[u8; 8] = b"AMQP\x00\x00\x09\x01";
