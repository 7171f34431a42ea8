//! The Prometheus endpoint (rabbitmq_prometheus's /metrics, /metrics/per-object,
//! /metrics/detailed) scraped over HTTP while lapin clients work, and read with a real
//! exposition-format parser: the values are what the clients did, and every metric RabbitMQ's
//! Grafana "RabbitMQ-Overview" dashboard queries is there.

mod common;

use common::within;
use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use prometheus_parse::{Sample, Scrape, Value};
use std::time::{Duration, Instant};
use warren::Broker;

/// Every metric the RabbitMQ-Overview dashboard queries, as shipped with RabbitMQ 3.10.8
/// and as on rabbitmq-server's main branch, less `rabbitmq_message_size_bytes` (4.x's
/// message size histogram, which Warren does not keep).
const OVERVIEW_DASHBOARD: &[&str] = &[
    "rabbitmq_build_info",
    "rabbitmq_channel_consumers",
    "rabbitmq_channels",
    "rabbitmq_channels_closed_total",
    "rabbitmq_channels_opened_total",
    "rabbitmq_connections",
    "rabbitmq_connections_closed_total",
    "rabbitmq_connections_opened_total",
    "rabbitmq_consumers",
    "rabbitmq_disk_space_available_limit_bytes",
    "rabbitmq_erlang_uptime_seconds",
    "rabbitmq_global_consumers",
    "rabbitmq_global_messages_acknowledged_total",
    "rabbitmq_global_messages_confirmed_total",
    "rabbitmq_global_messages_delivered_consume_auto_ack_total",
    "rabbitmq_global_messages_delivered_consume_manual_ack_total",
    "rabbitmq_global_messages_delivered_get_auto_ack_total",
    "rabbitmq_global_messages_delivered_get_manual_ack_total",
    "rabbitmq_global_messages_delivered_total",
    "rabbitmq_global_messages_get_empty_total",
    "rabbitmq_global_messages_received_confirm_total",
    "rabbitmq_global_messages_received_total",
    "rabbitmq_global_messages_redelivered_total",
    "rabbitmq_global_messages_routed_total",
    "rabbitmq_global_messages_unroutable_dropped_total",
    "rabbitmq_global_messages_unroutable_returned_total",
    "rabbitmq_global_publishers",
    "rabbitmq_identity_info",
    "rabbitmq_process_max_fds",
    "rabbitmq_process_max_tcp_sockets",
    "rabbitmq_process_open_fds",
    "rabbitmq_process_open_tcp_sockets",
    "rabbitmq_process_resident_memory_bytes",
    "rabbitmq_queue_messages_ready",
    "rabbitmq_queue_messages_unacked",
    "rabbitmq_queues",
    "rabbitmq_queues_created_total",
    "rabbitmq_queues_declared_total",
    "rabbitmq_queues_deleted_total",
    "rabbitmq_resident_memory_limit_bytes",
];

fn broker() -> Broker {
    common::init_logs();
    Broker::builder()
        .prometheus()
        .start()
        .expect("broker starts")
}

/// A GET over a plain socket: status, content type and body.
fn http_get(b: &Broker, path: &str) -> (u16, String, String) {
    let host = b.prometheus_addr().expect("prometheus on").to_string();
    let (head, body) = common::http_request(&host, "GET", path, "", "");
    let status = common::http_status(&head);
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or_default()
        .to_owned();
    (status, content_type, body.to_owned())
}

fn scrape(b: &Broker, path: &str) -> Scrape {
    let (status, content_type, body) = http_get(b, path);
    assert_eq!(status, 200, "{path}: {body}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).expect("a valid exposition")
}

fn number(s: &Sample) -> f64 {
    match s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
        _ => panic!("{} is not a single number", s.metric),
    }
}

/// The value of the one series of `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<&Sample> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert!(
        found.len() <= 1,
        "{name} {labels:?} has {} series",
        found.len()
    );
    found.first().map(|s| number(s))
}

#[track_caller]
fn assert_value(scrape: &Scrape, name: &str, labels: &[(&str, &str)], want: f64) {
    assert_eq!(value(scrape, name, labels), Some(want), "{name} {labels:?}");
}

/// Scrapes `path` until `ok` holds (the global counters move with each 5-second sample).
fn scrape_until(b: &Broker, path: &str, ok: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = scrape(b, path);
        if ok(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "metrics did not settle");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_clients_do() {
    let b = broker();
    let conn = within(Connection::connect(
        &b.url(),
        ConnectionProperties::default(),
    ))
    .await
    .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    for q in ["p1", "p2"] {
        ch.queue_declare(q, QueueDeclareOptions::default(), FieldTable::default())
            .await
            .expect("declare");
    }
    let publish = |rk: &'static str| {
        let ch = ch.clone();
        async move {
            ch.basic_publish(
                "",
                rk,
                BasicPublishOptions::default(),
                b"m",
                BasicProperties::default(),
            )
            .await
            .expect("publish");
        }
    };
    for _ in 0..5 {
        publish("p1").await;
    }
    for _ in 0..3 {
        publish("p2").await;
    }
    publish("nowhere").await;
    let mut consumer = ch
        .basic_consume(
            "p1",
            "c1",
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    for i in 0..5 {
        let d = within(consumer.next())
            .await
            .expect("delivery")
            .expect("ok");
        if i < 2 {
            d.ack(BasicAckOptions::default()).await.expect("ack");
        }
    }

    let per_object = tokio::task::block_in_place(|| {
        scrape_until(&b, "/metrics/per-object", |s| {
            value(s, "rabbitmq_queue_messages_unacked", &[("queue", "p1")]) == Some(3.0)
        })
    });
    let q = |name: &'static str| [("vhost", "/"), ("queue", name)];
    assert_value(&per_object, "rabbitmq_queue_messages_ready", &q("p1"), 0.0);
    assert_value(&per_object, "rabbitmq_queue_messages_ready", &q("p2"), 3.0);
    assert_value(
        &per_object,
        "rabbitmq_queue_messages_unacked",
        &q("p2"),
        0.0,
    );
    assert_value(&per_object, "rabbitmq_queue_messages", &q("p1"), 3.0);
    assert_value(&per_object, "rabbitmq_queue_consumers", &q("p1"), 1.0);
    assert_value(&per_object, "rabbitmq_queues", &[], 2.0);
    assert_value(&per_object, "rabbitmq_connections", &[], 1.0);
    assert_value(&per_object, "rabbitmq_channels", &[], 1.0);
    assert_value(&per_object, "rabbitmq_consumers", &[], 1.0);
    assert_value(&per_object, "rabbitmq_connection_channels", &[], 1.0);
    assert_value(&per_object, "rabbitmq_channel_messages_unacked", &[], 3.0);
    assert_value(
        &per_object,
        "rabbitmq_channel_messages_published_total",
        &[("vhost", "/")],
        9.0,
    );
    assert_eq!(
        per_object
            .docs
            .get("rabbitmq_queue_messages_ready")
            .map(String::as_str),
        Some("Messages ready to be delivered to consumers")
    );

    // The aggregated endpoint: sums, without per-object labels; the global counters once
    // the sampler has seen the channel.
    let total = |s: &Scrape, name: &str| value(s, name, &[("protocol", "amqp091")]);
    let metrics = tokio::task::block_in_place(|| {
        scrape_until(&b, "/metrics", |s| {
            total(s, "rabbitmq_global_messages_acknowledged_total") == Some(2.0)
        })
    });
    assert_eq!(
        total(&metrics, "rabbitmq_global_messages_received_total"),
        Some(9.0)
    );
    assert_eq!(
        total(&metrics, "rabbitmq_global_messages_routed_total"),
        Some(8.0)
    );
    assert_eq!(
        total(
            &metrics,
            "rabbitmq_global_messages_unroutable_dropped_total"
        ),
        Some(1.0)
    );
    assert_eq!(
        total(&metrics, "rabbitmq_global_messages_delivered_total"),
        Some(5.0)
    );
    assert_eq!(
        total(
            &metrics,
            "rabbitmq_global_messages_delivered_consume_manual_ack_total"
        ),
        Some(5.0)
    );
    assert_eq!(total(&metrics, "rabbitmq_global_consumers"), Some(1.0));
    assert_eq!(total(&metrics, "rabbitmq_global_publishers"), Some(1.0));
    assert_value(&metrics, "rabbitmq_queue_messages_ready", &[], 3.0);
    assert_value(&metrics, "rabbitmq_queue_messages_unacked", &[], 3.0);
    assert_value(&metrics, "rabbitmq_queues_declared_total", &[], 2.0);
    assert_value(&metrics, "rabbitmq_queues_created_total", &[], 2.0);
    assert_value(&metrics, "rabbitmq_connections_opened_total", &[], 1.0);
    assert_value(&metrics, "rabbitmq_channels_opened_total", &[], 1.0);
    assert!(
        metrics
            .samples
            .iter()
            .all(|s| s.labels.get("queue").is_none()),
        "/metrics is aggregated"
    );
    let identity = metrics
        .samples
        .iter()
        .find(|s| s.metric == "rabbitmq_identity_info")
        .expect("identity");
    assert!(identity.labels.get("rabbitmq_cluster").is_some());
    assert!(identity.labels.get("rabbitmq_node").is_some());
    let missing: Vec<&&str> = OVERVIEW_DASHBOARD
        .iter()
        .filter(|n| !metrics.samples.iter().any(|s| s.metric == **n))
        .collect();
    assert!(missing.is_empty(), "missing for the dashboard: {missing:?}");

    // Closing the connection: the churn counters move, the global counters keep what it
    // counted.
    conn.close(200, "bye").await.expect("close");
    let after = tokio::task::block_in_place(|| {
        scrape_until(&b, "/metrics", |s| {
            value(s, "rabbitmq_connections", &[]) == Some(0.0)
                && value(s, "rabbitmq_channels_closed_total", &[]) == Some(1.0)
        })
    });
    assert_value(&after, "rabbitmq_connections_closed_total", &[], 1.0);
    assert_eq!(
        total(&after, "rabbitmq_global_messages_received_total"),
        Some(9.0)
    );
    // p1's three unacked messages went back to ready beside p2's three.
    assert_value(&after, "rabbitmq_queue_messages_ready", &[], 6.0);
}

#[test]
fn detailed_answers_the_families_and_vhosts_asked_for() {
    let b = broker();
    b.core().add_vhost("other").expect("vhost");
    for (vhost, name) in [("/", "here"), ("other", "there")] {
        let v = b.core().vhost(vhost).expect("vhost");
        v.declare_queue(
            warren::broker::vhost::QueueDeclare {
                name: name.into(),
                passive: false,
                durable: false,
                exclusive: false,
                auto_delete: false,
                arguments: Default::default(),
                client_named: true,
            },
            0,
        )
        .expect("declare");
    }
    let s = scrape(
        &b,
        "/metrics/detailed?family=queue_coarse_metrics&vhost=%2F",
    );
    assert_value(
        &s,
        "rabbitmq_detailed_queue_messages_ready",
        &[("vhost", "/"), ("queue", "here")],
        0.0,
    );
    assert_eq!(
        value(
            &s,
            "rabbitmq_detailed_queue_messages_ready",
            &[("queue", "there")]
        ),
        None
    );
    assert!(
        s.samples
            .iter()
            .any(|x| x.metric == "rabbitmq_identity_info")
    );
    assert!(
        s.samples
            .iter()
            .all(|x| x.metric.starts_with("rabbitmq_detailed_queue_messages")
                || x.metric.ends_with("_info")),
        "only the family asked for"
    );
    let both = scrape(
        &b,
        "/metrics/detailed?family=queue_consumer_count&family=connection_churn_metrics",
    );
    assert_value(
        &both,
        "rabbitmq_detailed_queue_consumers",
        &[("vhost", "other"), ("queue", "there")],
        0.0,
    );
    assert_value(&both, "rabbitmq_detailed_queues_created_total", &[], 2.0);
    let (status, _, _) = http_get(&b, "/nothing");
    assert_eq!(status, 404);
}

#[test]
fn disk_space_is_reported_with_a_data_directory() {
    common::init_logs();
    let dir = std::env::temp_dir().join(format!("warren-prometheus-{}", std::process::id()));
    let b = Broker::builder()
        .data_dir(&dir)
        .prometheus()
        .start()
        .expect("broker starts");
    let s = scrape(&b, "/metrics");
    assert!(value(&s, "rabbitmq_disk_space_available_bytes", &[]).is_some_and(|v| v > 0.0));
    assert_value(
        &s,
        "rabbitmq_disk_space_available_limit_bytes",
        &[],
        50_000_000.0,
    );
    b.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}
