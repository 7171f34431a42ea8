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

/// A broker that also serves the management HTTP API (`broker.management_addr()`).
pub fn management_broker() -> Broker {
    init_logs();
    Broker::builder()
        .management()
        .start()
        .expect("broker starts")
}

/// A runtime for the lapin parts of tests that are otherwise blocking (HTTP clients).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Polls `f` until it returns Some, within the test-wide bound.
pub fn eventually<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met in time"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One HTTP/1.1 exchange over a plain socket, as bare as a test wants it: the status line
/// and headers, and the body.
pub fn http_request(
    host: &str,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (head.to_owned(), body.to_owned())
}

/// The status code of an HTTP response head.
pub fn http_status(head: &str) -> u16 {
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
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

// ---- Helpers for the exchange/queue/basic/confirm end-to-end suites ----

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};

/// Asserts that `err` is the AMQP reply `code` with exactly `text`.
#[track_caller]
pub fn assert_amqp(err: &lapin::Error, code: u16, text: &str) {
    match err {
        lapin::Error::ProtocolError(e) => assert_eq!(
            (e.get_id(), e.get_message().as_str()),
            (code, text),
            "unexpected AMQP error: {err:?}"
        ),
        other => panic!("expected AMQP error {code} {text:?}, got {other:?}"),
    }
}

/// Unwraps the error of a result that must have failed with `code` and `text`.
#[track_caller]
pub fn expect_amqp<T: std::fmt::Debug>(res: lapin::Result<T>, code: u16, text: &str) {
    match res {
        Ok(v) => panic!("expected AMQP error {code} {text:?}, got Ok({v:?})"),
        Err(e) => assert_amqp(&e, code, text),
    }
}

/// Errors a channel or connection reported through lapin's `on_error` hook.
pub struct Errors(tokio::sync::mpsc::UnboundedReceiver<lapin::Error>);

impl Errors {
    /// The next reported error (the close that the server sent), within the test timeout.
    pub async fn next(&mut self) -> lapin::Error {
        within(self.0.recv()).await.expect("an error is reported")
    }
}

/// Records the error a channel is closed with by the server (channel.close).
pub fn watch_channel(ch: &Channel) -> Errors {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    ch.on_error(move |e| {
        let _ = tx.send(e);
    });
    Errors(rx)
}

/// Records the error a connection is closed with by the server (connection.close).
pub fn watch_connection(conn: &Connection) -> Errors {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    conn.on_error(move |e| {
        let _ = tx.send(e);
    });
    Errors(rx)
}

/// A channel in confirm mode, so that `publish` returns only once the broker has routed.
pub async fn confirm_channel(conn: &Connection) -> Channel {
    let ch = within(conn.create_channel()).await.expect("channel opens");
    within(ch.confirm_select(ConfirmSelectOptions::default()))
        .await
        .expect("confirm.select");
    ch
}

/// Publishes and waits for the broker's confirmation (or returns at once without confirms).
pub async fn publish_with(
    ch: &Channel,
    exchange: &str,
    key: &str,
    body: &[u8],
    options: BasicPublishOptions,
    properties: BasicProperties,
) -> Confirmation {
    let confirm = within(ch.basic_publish(exchange, key, options, body, properties))
        .await
        .expect("basic.publish is sent");
    within(confirm).await.expect("publish is confirmed")
}

/// Publishes a plain message and waits for its confirmation.
pub async fn publish(ch: &Channel, exchange: &str, key: &str, body: &[u8]) -> Confirmation {
    publish_with(
        ch,
        exchange,
        key,
        body,
        BasicPublishOptions::default(),
        BasicProperties::default(),
    )
    .await
}

/// A queue's ready messages and consumers, from a passive declare on `ch`.
pub async fn passive_counts(ch: &Channel, queue: &str) -> (u32, u32) {
    let q = within(ch.queue_declare(
        queue,
        QueueDeclareOptions {
            passive: true,
            ..Default::default()
        },
        FieldTable::default(),
    ))
    .await
    .expect("passive declare");
    (q.message_count(), q.consumer_count())
}

/// Declares a queue with the given name (empty: server-named) and options; returns its name.
pub async fn declare(ch: &Channel, name: &str, options: QueueDeclareOptions) -> String {
    within(ch.queue_declare(name, options, FieldTable::default()))
        .await
        .expect("queue.declare")
        .name()
        .to_string()
}

/// Declares a durable queue.
pub async fn declare_durable(ch: &Channel, name: &str) {
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    declare(ch, name, durable).await;
}

/// Publishes a plain message to `queue` through the default exchange without waiting for
/// its confirm, which is returned to await later.
pub async fn start_publish(
    ch: &Channel,
    queue: &str,
    body: &[u8],
) -> lapin::publisher_confirm::PublisherConfirm {
    within(ch.basic_publish(
        "",
        queue,
        BasicPublishOptions::default(),
        body,
        BasicProperties::default(),
    ))
    .await
    .expect("basic.publish is sent")
}

/// Takes every ready message from `queue` with basic.get (no-ack), in order.
pub async fn drain(ch: &Channel, queue: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let got = within(ch.basic_get(queue, BasicGetOptions { no_ack: true }))
            .await
            .expect("basic.get");
        match got {
            Some(m) => out.push(m.delivery.data),
            None => return out,
        }
    }
    panic!("queue {queue} did not run dry");
}

/// Like `drain`, as strings, for readable assertions.
pub async fn drain_strings(ch: &Channel, queue: &str) -> Vec<String> {
    drain(ch, queue)
        .await
        .into_iter()
        .map(|b| String::from_utf8(b).expect("utf-8 body"))
        .collect()
}

// ---- Helpers for the queue-extension suites (TTL, dead-lettering, limits, priorities) ----

use futures_lite::StreamExt;
use lapin::options::BasicConsumeOptions;
use lapin::types::{AMQPValue, ShortString};

/// A field table from (key, value) pairs, in order.
pub fn args(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert(ShortString::from(*k), v.clone());
    }
    t
}

/// A long-string field value.
pub fn s(v: &str) -> AMQPValue {
    AMQPValue::LongString(v.into())
}

/// A signed 32-bit integer field value.
pub fn int(v: i32) -> AMQPValue {
    AMQPValue::LongInt(v)
}

/// Arguments that dead-letter through the default exchange to `queue`, after `ttl` ms in
/// this queue if given.
pub fn dead_letter_to(queue: &str, ttl: Option<i32>) -> FieldTable {
    let mut a = args(&[
        ("x-dead-letter-exchange", s("")),
        ("x-dead-letter-routing-key", s(queue)),
    ]);
    if let Some(ttl) = ttl {
        a.insert(ShortString::from("x-message-ttl"), int(ttl));
    }
    a
}

/// A fanout exchange `exchange` bound to a new queue `queue` (a dead-letter target, say).
pub async fn fanout_to(ch: &Channel, exchange: &str, queue: &str) {
    within(ch.exchange_declare(
        exchange,
        lapin::ExchangeKind::Fanout,
        Default::default(),
        FieldTable::default(),
    ))
    .await
    .expect("exchange.declare");
    declare_with(ch, queue, FieldTable::default()).await;
    within(ch.queue_bind(
        queue,
        exchange,
        "",
        Default::default(),
        FieldTable::default(),
    ))
    .await
    .expect("queue.bind");
}

/// Declares a queue with arguments (not durable, not exclusive).
pub async fn declare_with(ch: &Channel, name: &str, arguments: FieldTable) {
    within(ch.queue_declare(name, QueueDeclareOptions::default(), arguments))
        .await
        .expect("queue.declare");
}

/// Starts a consumer with arguments.
pub async fn consume_with(
    ch: &Channel,
    queue: &str,
    tag: &str,
    no_ack: bool,
    arguments: FieldTable,
) -> lapin::Consumer {
    within(ch.basic_consume(
        queue,
        tag,
        BasicConsumeOptions {
            no_ack,
            ..Default::default()
        },
        arguments,
    ))
    .await
    .expect("basic.consume")
}

/// The consumer's next delivery, within the test timeout.
pub async fn next_delivery(consumer: &mut lapin::Consumer) -> lapin::message::Delivery {
    within(consumer.next())
        .await
        .expect("consumer stream ended")
        .expect("delivery")
}

/// Waits (polling, bounded by the test timeout) until `queue` holds `n` ready messages.
pub async fn wait_for_count(ch: &Channel, queue: &str, n: u32) {
    within(async {
        loop {
            if passive_counts(ch, queue).await.0 == n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
}

/// A header's value, looked up by name.
pub fn header<'a>(d: &'a lapin::message::Delivery, key: &str) -> Option<&'a AMQPValue> {
    d.properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(key))
}

/// A port nobody listens on now, for a broker binary a test starts itself.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The real `warren` binary on data directory `dir`, once it accepts connections on `port`
/// (bounded wait): for tests that kill -9 it.
pub fn spawn_binary(dir: &std::path::Path, port: u16) -> std::process::Child {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_warren"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-level",
            "warn",
            "--no-management",
            "--no-prometheus",
        ])
        .arg("--data-dir")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("warren starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "warren did not listen within 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}
