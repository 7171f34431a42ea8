//! RabbitMQ's Prometheus endpoint (the rabbitmq_prometheus plugin, port 15692): `/metrics`
//! (aggregated), `/metrics/per-object` (a series per queue, connection and channel) and
//! `/metrics/detailed` (`?family=...&vhost=...`, prefix `rabbitmq_detailed_`), with
//! rabbitmq_prometheus's names, types, help texts and labels, so RabbitMQ's Grafana
//! dashboards read Warren unedited.
//!
//! A scrape takes a snapshot (queues read under their locks one by one, each connection
//! asked for its channels, the node status) and encodes it with the `prometheus-client`
//! crate's Prometheus text encoder, RabbitMQ's own format (text 0.0.4). The
//! `rabbitmq_global_messages_*` counters are the sampler's totals ([`super::rates`]), which
//! keep what closed connections counted; they move every sample (5 s), as RabbitMQ's
//! per-object statistics do. What Warren has no counter for is left out rather than
//! reported as zero: see `interop/rabbitmq-observed/prometheus.md`.

use super::node_name;
use super::rates::Rates;
use crate::broker::churn::ChurnCounts;
use crate::broker::connection_info::{ChannelCounters, ConnectionInfo, ConnectionStats};
use crate::broker::queue::QueueInfo;
use crate::broker::{Core, NodeStatus, RABBITMQ_VERSION};
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the metrics listener shares with its handlers.
#[derive(Clone)]
pub struct Metrics {
    pub core: Arc<Core>,
    pub rates: Arc<Rates>,
    pub started: Instant,
}

pub fn router(m: Metrics) -> Router {
    Router::new()
        .route("/metrics", get(aggregated))
        .route("/metrics/per-object", get(per_object))
        .route("/metrics/detailed", get(detailed))
        .with_state(m)
}

/// Serves the metrics on `listener` until `shutdown` turns true. `rates` must be sampled
/// (see [`super::rates::sample_until`]) for the global message counters to move.
pub async fn serve(
    listener: TcpListener,
    core: Arc<Core>,
    rates: Arc<Rates>,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("Prometheus metrics on http://{addr}/metrics");
    }
    let m = Metrics {
        core,
        rates,
        started: Instant::now(),
    };
    let stop = async move {
        let _ = shutdown.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, router(m))
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!("metrics listener stopped: {e}");
    }
}

async fn aggregated(State(m): State<Metrics>) -> Response {
    exposition(&m, Endpoint::Aggregated).await
}

async fn per_object(State(m): State<Metrics>) -> Response {
    exposition(&m, Endpoint::PerObject).await
}

async fn detailed(State(m): State<Metrics>, RawQuery(query): RawQuery) -> Response {
    let (mut families, mut vhosts) = (Vec::new(), Vec::new());
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match &*k {
            "family" => families.push(v.into_owned()),
            "vhost" => vhosts.push(v.into_owned()),
            _ => {}
        }
    }
    exposition(&m, Endpoint::Detailed { families, vhosts }).await
}

async fn exposition(m: &Metrics, endpoint: Endpoint) -> Response {
    let snapshot = Snapshot::take(m, endpoint).await;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    let mut body = String::new();
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut body, &registry) {
        tracing::error!("cannot encode metrics: {e}");
    }
    (
        [(
            header::CONTENT_TYPE,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )],
        body,
    )
        .into_response()
}

/// Which of rabbitmq_prometheus's endpoints is answered.
#[derive(Debug, Clone)]
enum Endpoint {
    /// `/metrics`: one series per metric, summed over objects.
    Aggregated,
    /// `/metrics/per-object`.
    PerObject,
    /// `/metrics/detailed`: only the families asked for (RabbitMQ's table names), per
    /// object, queues of the vhosts asked for (all when none).
    Detailed {
        families: Vec<String>,
        vhosts: Vec<String>,
    },
}

/// rabbitmq_prometheus's metric groups, named as the `family` parameter names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    ConnectionChurn,
    NodeCoarse,
    Node,
    QueueCoarse,
    QueueConsumerCount,
    Queue,
    Channel,
    ChannelExchange,
    ChannelQueue,
    ConnectionCoarse,
    Connection,
    ChannelQueueExchange,
}

impl Group {
    fn family(self) -> &'static str {
        match self {
            Group::ConnectionChurn => "connection_churn_metrics",
            Group::NodeCoarse => "node_coarse_metrics",
            Group::Node => "node_metrics",
            Group::QueueCoarse => "queue_coarse_metrics",
            Group::QueueConsumerCount => "queue_consumer_count",
            Group::Queue => "queue_metrics",
            Group::Channel => "channel_metrics",
            Group::ChannelExchange => "channel_exchange_metrics",
            Group::ChannelQueue => "channel_queue_metrics",
            Group::ConnectionCoarse => "connection_coarse_metrics",
            Group::Connection => "connection_metrics",
            Group::ChannelQueueExchange => "channel_queue_exchange_metrics",
        }
    }
}

/// A queue as a scrape saw it.
#[derive(Debug)]
struct QueueRow {
    vhost: String,
    name: String,
    info: QueueInfo,
}

/// A connection as a scrape saw it.
#[derive(Debug)]
struct ConnectionRow {
    info: Arc<ConnectionInfo>,
    stats: ConnectionStats,
}

/// Everything one scrape reports, taken before encoding (which cannot await).
#[derive(Debug)]
struct Snapshot {
    endpoint: Endpoint,
    node: NodeStatus,
    churn: ChurnCounts,
    /// Channel counters of every connection since the broker started, as last sampled.
    totals: ChannelCounters,
    uptime_seconds: u64,
    open_fds: Option<u64>,
    max_fds: Option<u64>,
    queues: Vec<QueueRow>,
    connections: Vec<ConnectionRow>,
}

impl Snapshot {
    async fn take(m: &Metrics, endpoint: Endpoint) -> Snapshot {
        let core = &m.core;
        let vhost_wanted = |v: &str| match &endpoint {
            Endpoint::Detailed { vhosts, .. } if !vhosts.is_empty() => {
                vhosts.iter().any(|w| w == v)
            }
            _ => true,
        };
        let mut queues = Vec::new();
        for vhost in core.vhost_names().into_iter().filter(|v| vhost_wanted(v)) {
            if let Some(v) = core.vhost(&vhost) {
                for q in v.queues() {
                    let info = q.info();
                    queues.push(QueueRow {
                        vhost: vhost.clone(),
                        name: q.name.to_string(),
                        info,
                    });
                }
            }
        }
        let mut connections = Vec::new();
        for info in core.connections() {
            if let Some(stats) = core.describe_connection(info.id).await {
                connections.push(ConnectionRow { info, stats });
            }
        }
        let (open_fds, max_fds) = fds();
        Snapshot {
            endpoint,
            node: core.node_status(),
            churn: core.churn_counts(),
            totals: m.rates.totals(""),
            uptime_seconds: m.started.elapsed().as_secs(),
            open_fds,
            max_fds,
            queues,
            connections,
        }
    }

    fn per_object(&self) -> bool {
        !matches!(self.endpoint, Endpoint::Aggregated)
    }

    fn prefix(&self) -> &'static str {
        match self.endpoint {
            Endpoint::Detailed { .. } => "rabbitmq_detailed_",
            _ => "rabbitmq_",
        }
    }

    fn wants(&self, g: Group) -> bool {
        match &self.endpoint {
            Endpoint::Detailed { families, .. } => families.iter().any(|f| f == g.family()),
            // queue_consumer_count is a subset of queue_metrics, emitted only without it.
            _ => g != Group::QueueConsumerCount,
        }
    }

    fn channels(
        &self,
    ) -> impl Iterator<
        Item = (
            &ConnectionRow,
            &crate::broker::connection_info::ChannelStats,
        ),
    > {
        self.connections
            .iter()
            .flat_map(|c| c.stats.channels.iter().map(move |ch| (c, ch)))
    }
}

/// A series' labels: RabbitMQ's label names, values.
type Labels = Vec<(&'static str, String)>;

/// The name RabbitMQ gives a channel's series; Warren has no process ids, so the channel's
/// name as the management API shows it ("PEER -> LOCAL (N)").
fn channel_label(c: &ConnectionRow, number: u16) -> Labels {
    vec![("channel", format!("{} ({number})", c.info.name))]
}

/// Writes families in the snapshot's mode: per object with labels, or one unlabelled sum.
struct Writer<'a, 'e> {
    encoder: &'a mut DescriptorEncoder<'e>,
    prefix: &'static str,
    per_object: bool,
}

impl Writer<'_, '_> {
    /// One family. Counters are named with their `_total`, as RabbitMQ names them; the
    /// encoder adds it back.
    fn family(
        &mut self,
        kind: MetricType,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, u64)>,
    ) -> Result<(), std::fmt::Error> {
        let full = format!("{}{}", self.prefix, name);
        let base = match kind {
            MetricType::Counter => full.strip_suffix("_total").unwrap_or(&full),
            _ => &full,
        };
        let mut metric = self.encoder.encode_descriptor(base, help, None, kind)?;
        let samples: Vec<(Labels, u64)> = if self.per_object {
            samples.into_iter().collect()
        } else {
            vec![(Vec::new(), samples.into_iter().map(|(_, v)| v).sum())]
        };
        for (labels, value) in samples {
            let mut m = metric.encode_family(&labels)?;
            match kind {
                MetricType::Counter => m.encode_counter::<NoLabelSet, u64, u64>(&value, None)?,
                _ => m.encode_gauge(&value)?,
            }
        }
        Ok(())
    }

    fn counter(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, u64)>,
    ) -> Result<(), std::fmt::Error> {
        self.family(MetricType::Counter, name, help, samples)
    }

    fn gauge(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels, u64)>,
    ) -> Result<(), std::fmt::Error> {
        self.family(MetricType::Gauge, name, help, samples)
    }

    /// A node-wide value, the same in every mode.
    fn one(
        &mut self,
        kind: MetricType,
        name: &str,
        help: &str,
        v: u64,
    ) -> Result<(), std::fmt::Error> {
        self.family(kind, name, help, [(Vec::new(), v)])
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut w = Writer {
            encoder: &mut encoder,
            prefix: self.prefix(),
            per_object: self.per_object(),
        };
        let detailed = matches!(self.endpoint, Endpoint::Detailed { .. });
        if !detailed {
            self.alarms(&mut w)?;
        }
        self.node_groups(&mut w)?;
        self.queue_groups(&mut w)?;
        self.channel_groups(&mut w)?;
        self.connection_groups(&mut w)?;
        if !detailed {
            self.totals(&mut w)?;
            self.global(&mut w)?;
        }
        w.prefix = "rabbitmq_";
        self.identity(&mut w)
    }
}

impl Snapshot {
    fn alarms(&self, w: &mut Writer) -> Result<(), std::fmt::Error> {
        let n = &self.node;
        // Warren raises no file descriptor alarm: the limit is the OS's.
        w.one(
            MetricType::Unknown,
            "alarms_file_descriptor_limit",
            "is 1 if file descriptor limit alarm is in effect",
            0,
        )?;
        w.one(
            MetricType::Unknown,
            "alarms_free_disk_space_watermark",
            "is 1 if free disk space watermark alarm is in effect",
            u64::from(n.disk_free_alarm),
        )?;
        w.one(
            MetricType::Unknown,
            "alarms_memory_used_watermark",
            "is 1 if VM memory watermark alarm is in effect",
            u64::from(n.mem_alarm),
        )
    }

    fn node_groups(&self, w: &mut Writer) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge};
        if self.wants(Group::ConnectionChurn) {
            let c = &self.churn;
            w.one(
                Counter,
                "connections_opened_total",
                "Total number of connections opened",
                c.connections_opened,
            )?;
            w.one(
                Counter,
                "connections_closed_total",
                "Total number of connections closed or terminated",
                c.connections_closed,
            )?;
            w.one(
                Counter,
                "channels_opened_total",
                "Total number of channels opened",
                c.channels_opened,
            )?;
            w.one(
                Counter,
                "channels_closed_total",
                "Total number of channels closed",
                c.channels_closed,
            )?;
            w.one(
                Counter,
                "queues_declared_total",
                "Total number of queues declared",
                c.queues_declared,
            )?;
            w.one(
                Counter,
                "queues_created_total",
                "Total number of queues created",
                c.queues_created,
            )?;
            w.one(
                Counter,
                "queues_deleted_total",
                "Total number of queues deleted",
                c.queues_deleted,
            )?;
        }
        let n = &self.node;
        if self.wants(Group::NodeCoarse) {
            if let Some(fds) = self.open_fds {
                w.one(Gauge, "process_open_fds", "Open file descriptors", fds)?;
            }
            w.one(
                Gauge,
                "process_open_tcp_sockets",
                "Open TCP sockets",
                self.connections.len() as u64,
            )?;
            // The process's resident set where the OS tells (the alarm watches the broker's own
            // smaller account of message and buffer memory, `mem_used`).
            w.one(
                Gauge,
                "process_resident_memory_bytes",
                "Memory used in bytes",
                n.mem_rss.unwrap_or(n.mem_used),
            )?;
            if let Some(free) = n.disk_free {
                w.one(
                    Gauge,
                    "disk_space_available_bytes",
                    "Disk space available in bytes",
                    free,
                )?;
            }
        }
        if self.wants(Group::Node) {
            if let Some(max) = self.max_fds {
                w.one(Gauge, "process_max_fds", "Open file descriptors limit", max)?;
                // Warren keeps no socket limit of its own: sockets are bounded by descriptors.
                w.one(
                    Gauge,
                    "process_max_tcp_sockets",
                    "Open TCP sockets limit",
                    max,
                )?;
            }
            w.one(
                Gauge,
                "resident_memory_limit_bytes",
                "Memory high watermark in bytes",
                n.mem_limit,
            )?;
            w.one(
                Gauge,
                "disk_space_available_limit_bytes",
                "Free disk space low watermark in bytes",
                n.disk_free_limit,
            )?;
            w.one(
                Gauge,
                "erlang_uptime_seconds",
                "Node uptime",
                self.uptime_seconds,
            )?;
        }
        Ok(())
    }

    fn queue_groups(&self, w: &mut Writer) -> Result<(), std::fmt::Error> {
        let label = |q: &QueueRow| vec![("vhost", q.vhost.clone()), ("queue", q.name.clone())];
        let each =
            |f: fn(&QueueInfo) -> u64| self.queues.iter().map(move |q| (label(q), f(&q.info)));
        if self.wants(Group::QueueCoarse) {
            w.gauge(
                "queue_messages_ready",
                "Messages ready to be delivered to consumers",
                each(|i| i.ready),
            )?;
            w.gauge(
                "queue_messages_unacked",
                "Messages delivered to consumers but not yet acknowledged",
                each(|i| i.counters.unacked),
            )?;
            w.gauge(
                "queue_messages",
                "Sum of ready and unacknowledged messages - total queue depth",
                each(|i| i.ready + i.counters.unacked),
            )?;
        }
        let consumers = |i: &QueueInfo| i.consumers.len() as u64;
        if self.wants(Group::QueueConsumerCount) && !self.wants(Group::Queue) {
            w.gauge("queue_consumers", "Consumers on a queue", each(consumers))?;
        }
        if self.wants(Group::Queue) {
            w.gauge("queue_consumers", "Consumers on a queue", each(consumers))?;
            w.gauge(
                "queue_messages_ready_ram",
                "Ready messages stored in memory",
                each(|i| i.ready.saturating_sub(i.paged_out)),
            )?;
            w.gauge(
                "queue_messages_ready_bytes",
                "Size in bytes of ready messages",
                each(|i| i.ready_bytes),
            )?;
            w.gauge(
                "queue_messages_paged_out",
                "Messages paged out to disk",
                each(|i| i.paged_out),
            )?;
        }
        Ok(())
    }

    fn channel_groups(&self, w: &mut Writer) -> Result<(), std::fmt::Error> {
        type Ch = crate::broker::connection_info::ChannelStats;
        let each = |f: fn(&Ch) -> u64| {
            self.channels()
                .map(move |(c, ch)| (channel_label(c, ch.number), f(ch)))
        };
        // Warren counts a channel's messages, not per exchange or queue: the series carry
        // the channel and its vhost.
        let each_in_vhost = |f: fn(&ChannelCounters) -> u64| {
            self.channels().map(move |(c, ch)| {
                let mut l = channel_label(c, ch.number);
                l.push(("vhost", c.info.vhost.clone()));
                (l, f(&ch.counters))
            })
        };
        if self.wants(Group::Channel) {
            w.gauge(
                "channel_consumers",
                "Consumers on a channel",
                each(|c| u64::from(c.consumer_count)),
            )?;
            w.gauge(
                "channel_messages_unacked",
                "Delivered but not yet acknowledged messages",
                each(|c| u64::from(c.messages_unacknowledged)),
            )?;
            w.gauge(
                "channel_messages_unconfirmed",
                "Published but not yet confirmed messages",
                each(|c| u64::from(c.messages_unconfirmed)),
            )?;
            w.gauge(
                "channel_messages_uncommitted",
                "Messages received in a transaction but not yet committed",
                each(|c| u64::from(c.messages_uncommitted)),
            )?;
            w.gauge(
                "channel_acks_uncommitted",
                "Message acknowledgements in a transaction not yet committed",
                each(|c| u64::from(c.acks_uncommitted)),
            )?;
            w.gauge(
                "consumer_prefetch",
                "Limit of unacknowledged messages for each consumer",
                each(|c| u64::from(c.prefetch_count)),
            )?;
            w.gauge(
                "channel_prefetch",
                "Total limit of unacknowledged messages for all consumers on a channel",
                each(|c| u64::from(c.global_prefetch_count)),
            )?;
        }
        if self.wants(Group::ChannelExchange) {
            w.counter(
                "channel_messages_published_total",
                "Total number of messages published into an exchange on a channel",
                each_in_vhost(|c| c.publish),
            )?;
            w.counter(
                "channel_messages_confirmed_total",
                "Total number of messages published into an exchange and confirmed on the channel",
                each_in_vhost(|c| c.confirm),
            )?;
            w.counter(
                "channel_messages_unroutable_returned_total",
                "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
                each_in_vhost(|c| c.return_unroutable),
            )?;
            w.counter(
                "channel_messages_unroutable_dropped_total",
                "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
                each_in_vhost(|c| c.drop_unroutable),
            )?;
        }
        if self.wants(Group::ChannelQueue) {
            w.counter(
                "channel_get_ack_total",
                "Total number of messages fetched with basic.get in manual acknowledgement mode",
                each_in_vhost(|c| c.get),
            )?;
            w.counter(
                "channel_get_total",
                "Total number of messages fetched with basic.get in automatic acknowledgement mode",
                each_in_vhost(|c| c.get_no_ack),
            )?;
            w.counter(
                "channel_messages_delivered_ack_total",
                "Total number of messages delivered to consumers in manual acknowledgement mode",
                each_in_vhost(|c| c.deliver),
            )?;
            w.counter(
                "channel_messages_delivered_total",
                "Total number of messages delivered to consumers in automatic acknowledgement mode",
                each_in_vhost(|c| c.deliver_no_ack),
            )?;
            w.counter(
                "channel_messages_redelivered_total",
                "Total number of messages redelivered to consumers",
                each_in_vhost(|c| c.redeliver),
            )?;
            w.counter(
                "channel_messages_acked_total",
                "Total number of messages acknowledged by consumers",
                each_in_vhost(|c| c.ack),
            )?;
            w.counter(
                "channel_get_empty_total",
                "Total number of times basic.get operations fetched no message",
                each_in_vhost(|c| c.get_empty),
            )?;
        }
        if self.wants(Group::ChannelQueueExchange) {
            // Counted by the queue, not per channel and exchange.
            w.counter(
                "queue_messages_published_total",
                "Total number of messages published to queues",
                self.queues.iter().map(|q| {
                    (
                        vec![("queue_vhost", q.vhost.clone()), ("queue", q.name.clone())],
                        q.info.counters.publish,
                    )
                }),
            )?;
        }
        Ok(())
    }

    fn connection_groups(&self, w: &mut Writer) -> Result<(), std::fmt::Error> {
        // RabbitMQ labels a connection's series `channel` too (with the connection's pid).
        let each = |f: fn(&ConnectionStats) -> u64| {
            self.connections
                .iter()
                .map(move |c| (vec![("channel", c.info.name.clone())], f(&c.stats)))
        };
        if self.wants(Group::ConnectionCoarse) {
            w.counter(
                "connection_incoming_bytes_total",
                "Total number of bytes received on a connection",
                each(|s| s.recv_oct),
            )?;
            w.counter(
                "connection_outgoing_bytes_total",
                "Total number of bytes sent on a connection",
                each(|s| s.send_oct),
            )?;
        }
        if self.wants(Group::Connection) {
            w.counter(
                "connection_incoming_packets_total",
                "Total number of packets received on a connection",
                each(|s| s.recv_cnt),
            )?;
            w.counter(
                "connection_outgoing_packets_total",
                "Total number of packets sent on a connection",
                each(|s| s.send_cnt),
            )?;
            w.gauge(
                "connection_channels",
                "Channels on a connection",
                each(|s| s.channels.len() as u64),
            )?;
        }
        Ok(())
    }

    /// The object counts, unlabelled in every mode.
    fn totals(&self, w: &mut Writer) -> Result<(), std::fmt::Error> {
        use MetricType::Gauge;
        let channels = self.channels().count() as u64;
        let consumers: u64 = self
            .queues
            .iter()
            .map(|q| q.info.consumers.len() as u64)
            .sum();
        w.one(
            Gauge,
            "connections",
            "Connections currently open",
            self.connections.len() as u64,
        )?;
        w.one(Gauge, "channels", "Channels currently open", channels)?;
        w.one(
            Gauge,
            "consumers",
            "Consumers currently connected",
            consumers,
        )?;
        w.one(
            Gauge,
            "queues",
            "Queues available",
            self.queues.len() as u64,
        )
    }

    /// rabbitmq_global_*: node-wide counters by protocol (and queue type), the same in
    /// every mode.
    fn global(&self, w: &mut Writer) -> Result<(), std::fmt::Error> {
        let per_object = std::mem::replace(&mut w.per_object, true);
        let t = &self.totals;
        let proto = || vec![("protocol", "amqp091".to_owned())];
        let classic = || {
            vec![
                ("protocol", "amqp091".to_owned()),
                ("queue_type", "rabbit_classic_queue".to_owned()),
            ]
        };
        let consumers: u64 = self
            .queues
            .iter()
            .map(|q| q.info.consumers.len() as u64)
            .sum();
        // A publisher is a channel that has published (RabbitMQ counts it from its first
        // publish until it closes).
        let publishers = self
            .channels()
            .filter(|(_, ch)| ch.counters.publish > 0)
            .count() as u64;
        w.gauge(
            "global_consumers",
            "Current number of consumers",
            [(proto(), consumers)],
        )?;
        w.gauge(
            "global_publishers",
            "Current number of publishers",
            [(proto(), publishers)],
        )?;
        let per_queue_type: [(&str, &str, u64); 8] = [
            (
                "global_messages_acknowledged_total",
                "Total number of messages acknowledged by consumers",
                t.ack,
            ),
            (
                "global_messages_delivered_consume_auto_ack_total",
                "Total number of messages delivered to consumers using basic.consume with automatic acknowledgment",
                t.deliver_no_ack,
            ),
            (
                "global_messages_delivered_consume_manual_ack_total",
                "Total number of messages delivered to consumers using basic.consume with manual acknowledgment",
                t.deliver,
            ),
            (
                "global_messages_delivered_get_auto_ack_total",
                "Total number of messages delivered to consumers using basic.get with automatic acknowledgment",
                t.get_no_ack,
            ),
            (
                "global_messages_delivered_get_manual_ack_total",
                "Total number of messages delivered to consumers using basic.get with manual acknowledgment",
                t.get,
            ),
            (
                "global_messages_delivered_total",
                "Total number of messages delivered to consumers",
                t.deliver_get(),
            ),
            (
                "global_messages_get_empty_total",
                "Total number of times basic.get operations fetched no message",
                t.get_empty,
            ),
            (
                "global_messages_redelivered_total",
                "Total number of messages redelivered to consumers",
                t.redeliver,
            ),
        ];
        let routed = t
            .publish
            .saturating_sub(t.return_unroutable + t.drop_unroutable);
        let per_protocol: [(&str, &str, u64); 6] = [
            (
                "global_messages_confirmed_total",
                "Total number of messages confirmed to publishers",
                t.confirm,
            ),
            (
                "global_messages_received_confirm_total",
                "Total number of messages received from publishers expecting confirmations",
                t.confirm,
            ),
            (
                "global_messages_received_total",
                "Total number of messages received from publishers",
                t.publish,
            ),
            (
                "global_messages_routed_total",
                "Total number of messages routed to queues or streams",
                routed,
            ),
            (
                "global_messages_unroutable_dropped_total",
                "Total number of messages published as non-mandatory into an exchange and dropped as unroutable",
                t.drop_unroutable,
            ),
            (
                "global_messages_unroutable_returned_total",
                "Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable",
                t.return_unroutable,
            ),
        ];
        let mut all: Vec<(&str, &str, Labels, u64)> = per_queue_type
            .into_iter()
            .map(|(n, h, v)| (n, h, classic(), v))
            .chain(per_protocol.into_iter().map(|(n, h, v)| (n, h, proto(), v)))
            .collect();
        all.sort_by_key(|(n, ..)| *n);
        for (name, help, labels, v) in all {
            w.counter(name, help, [(labels, v)])?;
        }
        w.per_object = per_object;
        Ok(())
    }

    fn identity(&self, w: &mut Writer) -> Result<(), std::fmt::Error> {
        let per_object = std::mem::replace(&mut w.per_object, true);
        let version = env!("CARGO_PKG_VERSION");
        let build = vec![
            ("rabbitmq_version", RABBITMQ_VERSION.to_owned()),
            ("prometheus_plugin_version", version.to_owned()),
            (
                "prometheus_client_version",
                "prometheus-client 0.26".to_owned(),
            ),
            ("erlang_version", "none".to_owned()),
            ("product_name", "Warren".to_owned()),
            ("product_version", version.to_owned()),
        ];
        w.family(
            MetricType::Unknown,
            "build_info",
            "RabbitMQ & Erlang/OTP version info",
            [(build, 1)],
        )?;
        let endpoint = match self.endpoint {
            Endpoint::Aggregated => "aggregated",
            Endpoint::PerObject => "per-object",
            Endpoint::Detailed { .. } => "detailed",
        };
        let node = node_name().to_owned();
        let identity = vec![
            ("rabbitmq_node", node.clone()),
            ("rabbitmq_cluster", node),
            ("rabbitmq_endpoint", endpoint.to_owned()),
        ];
        w.family(
            MetricType::Unknown,
            "identity_info",
            "RabbitMQ node & cluster identity info",
            [(identity, 1)],
        )?;
        w.per_object = per_object;
        Ok(())
    }
}

/// Open file descriptors and their soft limit, where the OS tells (Linux's /proc).
fn fds() -> (Option<u64>, Option<u64>) {
    let open = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as u64);
    let max = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|n| n.parse().ok())
        });
    (open, max)
}
