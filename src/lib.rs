pub mod broker;
pub mod error;
pub mod protocol;
