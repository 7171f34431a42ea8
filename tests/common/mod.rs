//! Shared helpers for the end-to-end tests: an in-process broker and a lapin connection.

#![allow(dead_code)] // each test file uses a different subset

use lapin::{Connection, ConnectionProperties};
use std::time::Duration;

pub use warren::Broker;

/// Upper bound on any single wait in a test, so a broken broker fails fast instead of hanging.
pub const WAIT: Duration = Duration::from_secs(10);

pub fn broker() -> Broker {
    init_logs();
    Broker::start().expect("broker starts on 127.0.0.1:0")
}

pub async fn connect(broker: &Broker) -> Connection {
    tokio::time::timeout(
        WAIT,
        Connection::connect(&broker.url(), ConnectionProperties::default()),
    )
    .await
    .expect("connect in time")
    .expect("connect")
}

/// Awaits a future with the test-wide timeout.
pub async fn within<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(WAIT, f)
        .await
        .expect("did not finish in time")
}

/// Shows the broker's logs in a failing test's output (`RUST_LOG=debug` for more).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_test_writer()
        .try_init();
}
