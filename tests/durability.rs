//! Restarts on the same data directory: what is durable survives, what is not does not, and
//! damaged files are recovered as far as they can be.

mod common;

use common::*;
use lapin::options::*;
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel};
use std::path::{Path, PathBuf};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("warren-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn start(dir: &Path) -> Broker {
    init_logs();
    Broker::start_in(dir).expect("broker starts on the data dir")
}

async fn channel(broker: &Broker) -> (lapin::Connection, Channel) {
    let conn = connect(broker).await;
    let ch = conn.create_channel().await.expect("channel");
    (conn, ch)
}

fn persistent() -> BasicProperties {
    BasicProperties::default().with_delivery_mode(2)
}

async fn declare_durable(ch: &Channel, queue: &str) {
    ch.queue_declare(
        queue,
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("declare durable queue");
}

/// Publishes with confirms and waits until every one is acked.
async fn publish_confirmed(
    ch: &Channel,
    exchange: &str,
    key: &str,
    bodies: &[Vec<u8>],
    props: BasicProperties,
) {
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    for b in bodies {
        let confirm = ch
            .basic_publish(
                exchange,
                key,
                BasicPublishOptions::default(),
                b,
                props.clone(),
            )
            .await
            .expect("publish");
        assert!(within(confirm).await.expect("confirm").is_ack());
    }
}

async fn drain(ch: &Channel, queue: &str) -> Vec<(Vec<u8>, bool, BasicProperties)> {
    let mut out = Vec::new();
    while let Some(m) = within(ch.basic_get(queue, BasicGetOptions { no_ack: true }))
        .await
        .expect("get")
    {
        out.push((
            m.delivery.data.clone(),
            m.delivery.redelivered,
            m.delivery.properties.clone(),
        ));
    }
    out
}

/// Each message's body and redelivered flag, in queue order.
async fn drain_flags(ch: &Channel, queue: &str) -> Vec<(Vec<u8>, bool)> {
    drain(ch, queue)
        .await
        .into_iter()
        .map(|(body, redelivered, _)| (body, redelivered))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn durable_entities_survive_and_transient_ones_do_not() {
    let dir = temp_dir("entities");
    {
        let broker = start(&dir);
        let (conn, ch) = channel(&broker).await;
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        ch.exchange_declare(
            "dx",
            lapin::ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .unwrap();
        ch.exchange_declare(
            "tx",
            lapin::ExchangeKind::Fanout,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
        declare_durable(&ch, "dq").await;
        ch.queue_declare("tq", QueueDeclareOptions::default(), FieldTable::default())
            .await
            .unwrap();
        ch.queue_declare(
            "xq",
            QueueDeclareOptions {
                durable: true,
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
        ch.queue_bind(
            "dq",
            "dx",
            "a.#",
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
        conn.close(200, "bye").await.unwrap();
        broker.shutdown();
    }
    let broker = start(&dir);
    let conn = connect(&broker).await;
    let passive = |name: &'static str| {
        let conn = &conn;
        async move {
            let ch = conn.create_channel().await.unwrap();
            ch.queue_declare(
                name,
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .is_ok()
        }
    };
    assert!(passive("dq").await, "durable queue survives");
    assert!(!passive("tq").await, "transient queue is gone");
    assert!(
        !passive("xq").await,
        "exclusive queue is gone even if durable"
    );
    let ch = conn.create_channel().await.unwrap();
    let passive_x = ExchangeDeclareOptions {
        passive: true,
        ..Default::default()
    };
    assert!(
        ch.exchange_declare(
            "dx",
            lapin::ExchangeKind::Topic,
            passive_x,
            FieldTable::default()
        )
        .await
        .is_ok()
    );
    let ch = conn.create_channel().await.unwrap();
    assert!(
        ch.exchange_declare(
            "tx",
            lapin::ExchangeKind::Fanout,
            passive_x,
            FieldTable::default()
        )
        .await
        .is_err()
    );
    // The binding survived too: a message through dx reaches dq.
    let ch = conn.create_channel().await.unwrap();
    ch.basic_publish(
        "dx",
        "a.b",
        BasicPublishOptions::default(),
        b"routed",
        BasicProperties::default(),
    )
    .await
    .unwrap();
    let got = drain(&ch, "dq").await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, b"routed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_messages_survive_in_order_with_properties() {
    let dir = temp_dir("messages");
    let bodies: Vec<Vec<u8>> = (0..200)
        .map(|i| format!("message {i}").into_bytes())
        .collect();
    {
        let broker = start(&dir);
        let (conn, ch) = channel(&broker).await;
        declare_durable(&ch, "orders").await;
        let mut headers = FieldTable::default();
        headers.insert("kind".into(), AMQPValue::LongString("order".into()));
        let props = persistent()
            .with_content_type("application/json".into())
            .with_headers(headers)
            .with_message_id("m-1".into());
        publish_confirmed(&ch, "", "orders", &bodies, props).await;
        // One transient message in the same durable queue: it must not come back.
        ch.basic_publish(
            "",
            "orders",
            BasicPublishOptions::default(),
            b"transient",
            BasicProperties::default(),
        )
        .await
        .unwrap();
        conn.close(200, "bye").await.unwrap();
        broker.shutdown();
    }
    let broker = start(&dir);
    let (_conn, ch) = channel(&broker).await;
    let got = drain(&ch, "orders").await;
    let got_bodies: Vec<Vec<u8>> = got.iter().map(|g| g.0.clone()).collect();
    assert_eq!(
        got_bodies, bodies,
        "every persistent message, in order, and nothing else"
    );
    let props = &got[0].2;
    assert_eq!(
        props.content_type().as_ref().map(|s| s.as_str()),
        Some("application/json")
    );
    assert_eq!(props.message_id().as_ref().map(|s| s.as_str()), Some("m-1"));
    assert_eq!(props.delivery_mode(), &Some(2));
    assert!(
        got.iter().all(|g| !g.1),
        "never delivered, so not redelivered"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn delivered_but_unacked_messages_come_back_redelivered_and_acked_ones_do_not() {
    let dir = temp_dir("redelivered");
    {
        let broker = start(&dir);
        let (conn, ch) = channel(&broker).await;
        declare_durable(&ch, "work").await;
        let bodies: Vec<Vec<u8>> = (0..4).map(|i| vec![b'a' + i]).collect();
        publish_confirmed(&ch, "", "work", &bodies, persistent()).await;
        let reader = conn.create_channel().await.unwrap();
        let get = || reader.basic_get("work", BasicGetOptions { no_ack: false });
        let first = within(get()).await.unwrap().expect("a message");
        assert_eq!(first.delivery.data, b"a");
        first
            .delivery
            .ack(BasicAckOptions::default())
            .await
            .unwrap();
        let second = within(get()).await.unwrap().expect("a message");
        assert_eq!(second.delivery.data, b"b"); // delivered, never acked
        // A round trip on the same channel: the ack has been handled before the broker stops.
        reader
            .basic_qos(1, BasicQosOptions::default())
            .await
            .unwrap();
        broker.shutdown();
        drop(conn);
    }
    let broker = start(&dir);
    let (_conn, ch) = channel(&broker).await;
    let summary = drain_flags(&ch, "work").await;
    assert_eq!(
        summary,
        vec![
            (b"b".to_vec(), true),
            (b"c".to_vec(), false),
            (b"d".to_vec(), false)
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn log_dir(dir: &Path) -> PathBuf {
    dir.join("vhosts").join("2f").join("log")
}

/// The index a clean stop leaves; deleting it makes the next start recover as after a crash.
fn index_file(dir: &Path) -> PathBuf {
    log_dir(dir).join("index.dat")
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let log = log_dir(dir);
    let mut segs: Vec<PathBuf> = std::fs::read_dir(&log)
        .expect("log dir")
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "seg") && std::fs::metadata(p).unwrap().len() > 0
        })
        .collect();
    segs.sort();
    segs
}

async fn fill(dir: &Path, n: usize) -> Vec<Vec<u8>> {
    let bodies: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("{i:04}-payload-payload").into_bytes())
        .collect();
    let broker = start(dir);
    let (conn, ch) = channel(&broker).await;
    declare_durable(&ch, "q").await;
    publish_confirmed(&ch, "", "q", &bodies, persistent()).await;
    conn.close(200, "bye").await.unwrap();
    broker.shutdown();
    bodies
}

#[tokio::test(flavor = "multi_thread")]
async fn a_torn_tail_is_truncated_and_the_rest_recovered() {
    let dir = temp_dir("torn");
    let bodies = fill(&dir, 50).await;
    // Only a crash tears a write, and a crash leaves no index.
    std::fs::remove_file(index_file(&dir)).expect("a clean stop left an index");
    let seg = segments(&dir).pop().expect("a segment");
    let len = std::fs::metadata(&seg).unwrap().len();
    // Cut the last record in half, as a crash mid-write would.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let broker = start(&dir);
    assert!(
        std::fs::metadata(&seg).unwrap().len() < len - 10,
        "the torn tail was cut off"
    );
    let (_conn, ch) = channel(&broker).await;
    let got: Vec<Vec<u8>> = drain(&ch, "q").await.into_iter().map(|g| g.0).collect();
    assert_eq!(got, bodies[..49].to_vec());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bit rot in the middle of a segment: found by the scan after a crash, or when the message
/// is read back after a clean stop's index; either way only that message is lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_record_in_the_middle_is_skipped() {
    for crashed in [true, false] {
        let dir = temp_dir(if crashed {
            "flipped-scan"
        } else {
            "flipped-index"
        });
        let bodies = fill(&dir, 50).await;
        if crashed {
            std::fs::remove_file(index_file(&dir)).expect("a clean stop left an index");
        }
        let seg = segments(&dir).pop().expect("a segment");
        let mut data = std::fs::read(&seg).unwrap();
        let needle = b"0025-payload";
        let at = data
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("record 25 is on disk");
        data[at] ^= 0xff;
        std::fs::write(&seg, &data).unwrap();
        let broker = start(&dir);
        let (_conn, ch) = channel(&broker).await;
        let got: Vec<Vec<u8>> = drain(&ch, "q").await.into_iter().map(|g| g.0).collect();
        let mut want = bodies.clone();
        want.remove(25);
        assert_eq!(
            got, want,
            "only the damaged message is lost (crashed: {crashed})"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A clean stop leaves an index of every queue; the next start uses it instead of scanning
/// and deletes it, so a later crash cannot be recovered from a stale one. A damaged index is
/// ignored and the log scanned.
#[tokio::test(flavor = "multi_thread")]
async fn a_clean_stop_leaves_an_index_the_next_start_uses_once() {
    let dir = temp_dir("index");
    {
        let broker = start(&dir);
        let (conn, ch) = channel(&broker).await;
        declare_durable(&ch, "work").await;
        let bodies: Vec<Vec<u8>> = (0..5).map(|i| vec![b'a' + i]).collect();
        publish_confirmed(&ch, "", "work", &bodies, persistent()).await;
        let reader = conn.create_channel().await.unwrap();
        let held = within(reader.basic_get("work", BasicGetOptions { no_ack: false }))
            .await
            .unwrap()
            .expect("a message");
        assert_eq!(held.delivery.data, b"a"); // unacked at the stop: back, redelivered
        assert!(!index_file(&dir).exists());
        broker.shutdown();
    }
    assert!(index_file(&dir).exists(), "a clean stop writes the index");
    // Recovered without an index (it was damaged), as after a crash: every message is
    // flagged redelivered, as RabbitMQ 4.x does after a non-clean shutdown.
    let want: Vec<(Vec<u8>, bool)> = (0..5).map(|i| (vec![b'a' + i], true)).collect();
    for damaged in [false, true] {
        if damaged {
            let len = std::fs::metadata(index_file(&dir)).unwrap().len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(index_file(&dir))
                .unwrap()
                .set_len(len - 3)
                .unwrap();
        }
        let broker = start(&dir);
        assert!(!index_file(&dir).exists(), "the start consumed the index");
        let (_conn, ch) = channel(&broker).await;
        // A passive declare counts without taking anything.
        assert_eq!(
            message_count(&ch, "work").await,
            5,
            "damaged index: {damaged}"
        );
        broker.shutdown();
    }
    let broker = start(&dir);
    let (_conn, ch) = channel(&broker).await;
    assert_eq!(drain_flags(&ch, "work").await, want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_disk_nacks_publishes_and_keeps_serving() {
    let dir = temp_dir("enospc");
    let broker = start(&dir);
    let (conn, ch) = channel(&broker).await;
    declare_durable(&ch, "q").await;
    publish_confirmed(&ch, "", "q", &[b"before".to_vec()], persistent()).await;
    let store = broker.core().vhost("/").unwrap().store().unwrap().clone();
    store
        .log
        .inject_write_fault(Some(std::io::ErrorKind::StorageFull));
    let confirm = ch
        .basic_publish(
            "",
            "q",
            BasicPublishOptions::default(),
            b"refused",
            persistent(),
        )
        .await
        .unwrap();
    assert!(
        within(confirm).await.unwrap().is_nack(),
        "a publish the disk cannot take is nacked"
    );
    // Transient messages and consumers go on working meanwhile.
    let confirm = ch
        .basic_publish(
            "",
            "q",
            BasicPublishOptions::default(),
            b"transient",
            BasicProperties::default(),
        )
        .await
        .unwrap();
    assert!(within(confirm).await.unwrap().is_ack());
    store.log.inject_write_fault(None);
    publish_confirmed(&ch, "", "q", &[b"after".to_vec()], persistent()).await;
    conn.close(200, "bye").await.unwrap();
    broker.shutdown();
    let broker = start(&dir);
    let (_conn, ch) = channel(&broker).await;
    let got: Vec<Vec<u8>> = drain(&ch, "q").await.into_iter().map(|g| g.0).collect();
    assert_eq!(
        got,
        vec![b"before".to_vec(), b"after".to_vec()],
        "stored data untouched by the failed write"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Publishes every body with confirms in one pipeline (all sent, then all awaited), so a deep
/// queue fills through the group commit instead of one fsync per message.
async fn publish_pipelined(ch: &Channel, queue: &str, bodies: impl Iterator<Item = Vec<u8>>) {
    let mut confirms = Vec::new();
    for b in bodies {
        let c = ch
            .basic_publish("", queue, BasicPublishOptions::default(), &b, persistent())
            .await
            .expect("publish");
        confirms.push(c);
    }
    for c in confirms {
        assert!(within(c).await.expect("confirm").is_ack());
    }
}

async fn message_count(ch: &Channel, queue: &str) -> u32 {
    passive_counts(ch, queue).await.0
}

/// Consumes exactly `n` messages (prefetch `n`, so no more are sent), cancels, acks them all
/// and returns their bodies in delivery order.
async fn consume_n(ch: &Channel, queue: &str, n: usize) -> Vec<String> {
    use futures_lite::StreamExt;
    let prefetch = u16::try_from(n).expect("n fits a prefetch count");
    ch.basic_qos(prefetch, BasicQosOptions::default())
        .await
        .expect("qos");
    let mut consumer = ch
        .basic_consume(
            queue,
            "deep",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let mut out = Vec::with_capacity(n);
    let mut last = 0;
    while out.len() < n {
        let d = within(consumer.next())
            .await
            .expect("a delivery within the wait")
            .expect("delivery");
        last = d.delivery_tag;
        out.push(String::from_utf8_lossy(&d.data).into_owned());
    }
    ch.basic_cancel("deep", BasicCancelOptions::default())
        .await
        .expect("cancel");
    ch.basic_ack(last, BasicAckOptions { multiple: true })
        .await
        .expect("ack");
    out
}

fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("m{i}")).collect()
}

/// More messages than a durable queue keeps in memory (16,384): the rest waits on disk and
/// is read back in order, before and after a restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_deep_queue_pages_to_disk_and_back_in_order_across_a_restart() {
    let dir = temp_dir("deep");
    let n = 40_000;
    {
        let broker = start(&dir);
        let (_conn, ch) = channel(&broker).await;
        declare_durable(&ch, "deep").await;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirm mode");
        publish_pipelined(
            &ch,
            "deep",
            numbered(0..n).into_iter().map(String::into_bytes),
        )
        .await;
        assert_eq!(message_count(&ch, "deep").await, n as u32);
        // basic.get reports what is left, on disk included.
        let first = within(ch.basic_get("deep", BasicGetOptions { no_ack: true }))
            .await
            .expect("get")
            .expect("a message");
        assert_eq!(first.delivery.data, b"m0");
        assert_eq!(first.message_count, n as u32 - 1);
        assert_eq!(consume_n(&ch, "deep", 20_000).await, numbered(1..20_001));
    }
    let broker = start(&dir);
    let (_conn, ch) = channel(&broker).await;
    let left = n - 20_001;
    assert_eq!(message_count(&ch, "deep").await, left as u32);
    assert_eq!(consume_n(&ch, "deep", left).await, numbered(20_001..n));
    assert_eq!(message_count(&ch, "deep").await, 0);
}

/// Transient messages in a deep queue's backlog keep their place; purging a deep queue
/// settles what was on disk, so nothing comes back after a restart.
#[tokio::test(flavor = "multi_thread")]
async fn a_deep_queue_keeps_transient_messages_in_place_and_purges_what_is_on_disk() {
    let dir = temp_dir("deep-purge");
    let n = 20_000;
    {
        let broker = start(&dir);
        let (_conn, ch) = channel(&broker).await;
        declare_durable(&ch, "deep").await;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirm mode");
        publish_pipelined(
            &ch,
            "deep",
            numbered(0..n).into_iter().map(String::into_bytes),
        )
        .await;
        let transient = ch
            .basic_publish(
                "",
                "deep",
                BasicPublishOptions::default(),
                b"transient",
                BasicProperties::default(),
            )
            .await
            .expect("publish");
        assert!(within(transient).await.expect("confirm").is_ack());
        publish_pipelined(
            &ch,
            "deep",
            numbered(n..n + 10).into_iter().map(String::into_bytes),
        )
        .await;
        let mut want = numbered(0..n);
        want.push("transient".into());
        want.extend(numbered(n..n + 10));
        assert_eq!(consume_n(&ch, "deep", n + 11).await, want);

        publish_pipelined(
            &ch,
            "deep",
            numbered(0..n).into_iter().map(String::into_bytes),
        )
        .await;
        let purged = ch
            .queue_purge("deep", QueuePurgeOptions::default())
            .await
            .expect("purge");
        assert_eq!(purged, n as u32);
    }
    let broker = start(&dir);
    let (_conn, ch) = channel(&broker).await;
    assert_eq!(message_count(&ch, "deep").await, 0);
}

/// Deep queues of transient messages spill to the log too (S7: bounded memory for any deep
/// queue), in order, and a spill never survives a restart, whether the next start reads the
/// clean-stop index or scans the log.
#[tokio::test(flavor = "multi_thread")]
async fn transient_messages_of_deep_queues_spill_to_disk_and_never_come_back() {
    let dir = temp_dir("spill");
    let n = 20_000;
    let transient = |range| numbered(range).into_iter().map(String::into_bytes);
    {
        let broker = start(&dir);
        let (_conn, ch) = channel(&broker).await;
        declare_durable(&ch, "mixed").await;
        ch.queue_declare(
            "plain",
            QueueDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("declare");
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirm mode");
        let mut confirms = Vec::new();
        for (queue, body) in transient(0..n)
            .map(|b| ("plain", b))
            .chain(transient(0..n).map(|b| ("mixed", b)))
        {
            let c = ch
                .basic_publish(
                    "",
                    queue,
                    BasicPublishOptions::default(),
                    &body,
                    BasicProperties::default(),
                )
                .await
                .expect("publish");
            confirms.push(c);
        }
        for c in confirms {
            assert!(within(c).await.expect("confirm").is_ack());
        }
        let persistent: Vec<Vec<u8>> = (0..10).map(|i| format!("p{i}").into_bytes()).collect();
        publish_pipelined(&ch, "mixed", persistent.into_iter()).await;
        assert_eq!(message_count(&ch, "plain").await, n as u32);
        assert_eq!(message_count(&ch, "mixed").await, n as u32 + 10);
        assert_eq!(consume_n(&ch, "plain", n).await, numbered(0..n));
        let ch2 = _conn.create_channel().await.expect("channel");
        assert_eq!(consume_n(&ch2, "mixed", 100).await, numbered(0..100));
    }
    for scan in [false, true] {
        if scan {
            std::fs::remove_file(index_file(&dir)).expect("a clean stop left an index");
        }
        let broker = start(&dir);
        let (_conn, ch) = channel(&broker).await;
        assert_eq!(message_count(&ch, "mixed").await, 10, "scan: {scan}");
        broker.shutdown();
    }
    let broker = start(&dir);
    let (_conn, ch) = channel(&broker).await;
    let got: Vec<Vec<u8>> = drain(&ch, "mixed").await.into_iter().map(|g| g.0).collect();
    let want: Vec<Vec<u8>> = (0..10).map(|i| format!("p{i}").into_bytes()).collect();
    assert_eq!(got, want);
    let _ = std::fs::remove_dir_all(&dir);
}

/// After a crash a classic queue cannot tell which messages had gone out (it writes no
/// deliveries), so it flags every message it recovers redelivered, as RabbitMQ's classic
/// queues do after a non-clean shutdown. A quorum queue writes its deliveries and flags
/// only those. Compared after kill -9 with RabbitMQ 3.10.8 (x-queue-version 1 and 2, and a
/// quorum queue; one of three messages fetched and not acked): the same flags.
#[tokio::test(flavor = "multi_thread")]
async fn after_a_crash_a_classic_queue_flags_what_it_recovers_and_a_quorum_queue_what_went_out() {
    init_logs();
    let broker = Broker::builder()
        .temp_data_dir()
        .start()
        .expect("broker starts");
    let (_conn, ch) = channel(&broker).await;
    declare_durable(&ch, "classic").await;
    let mut quorum = FieldTable::default();
    quorum.insert(
        "x-queue-type".into(),
        lapin::types::AMQPValue::LongString("quorum".into()),
    );
    ch.queue_declare(
        "quorum",
        QueueDeclareOptions {
            durable: true,
            ..Default::default()
        },
        quorum,
    )
    .await
    .expect("declare quorum queue");
    let bodies: Vec<Vec<u8>> = (0..3u8).map(|i| vec![b'a' + i]).collect();
    publish_confirmed(&ch, "", "classic", &bodies, persistent()).await;
    publish_confirmed(&ch, "", "quorum", &bodies, persistent()).await;
    // The first quorum message goes out and is not acked before the crash.
    let got = within(ch.basic_get("quorum", BasicGetOptions { no_ack: false }))
        .await
        .expect("get")
        .expect("a message");
    assert_eq!(got.delivery.data, b"a");
    let b = &broker;
    tokio::task::block_in_place(|| b.crash_and_recover()).expect("recovers");
    let (_conn, ch) = channel(&broker).await;
    assert_eq!(
        drain_flags(&ch, "classic").await,
        [
            (b"a".to_vec(), true),
            (b"b".to_vec(), true),
            (b"c".to_vec(), true)
        ]
    );
    assert_eq!(
        drain_flags(&ch, "quorum").await,
        [
            (b"a".to_vec(), true),
            (b"b".to_vec(), false),
            (b"c".to_vec(), false)
        ]
    );
}
