//! Message rates: the management listener samples the broker's counters every few seconds
//! (RabbitMQ's `collect_statistics_interval`, 5 s) and a rate is the change between the last
//! two samples. Nothing is sampled while no management listener runs, and the message path
//! only ever adds to plain counters (see `broker::queue::stats`, `channel`).
//!
//! Channel counters live in connections, which go away: what a closed connection counted is
//! kept in a retired total, so the overview's and vhosts' totals never go backwards.

use crate::broker::Core;
use crate::broker::connection_info::{ChannelCounters, ConnectionStats};
use crate::broker::queue::QueueCounters;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often counters are sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);
/// Overview samples kept for the UI's charts: ten minutes.
const HISTORY: usize = 120;

/// What a rate is kept for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Overview,
    Vhost(String),
    Queue(String, String),
    Connection(u64),
    Channel(u64, u16),
}

/// Two consecutive samples of a set of counters.
#[derive(Debug, Clone)]
struct Pair {
    prev: Option<(Instant, Vec<u64>)>,
    last: (Instant, Vec<u64>),
}

/// One point of the overview's history, for the UI.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OverviewPoint {
    /// ms since the Unix epoch.
    pub timestamp: u64,
    pub messages: u64,
    pub messages_ready: u64,
    pub messages_unacknowledged: u64,
    pub publish_rate: f64,
    pub deliver_get_rate: f64,
    pub ack_rate: f64,
}

#[derive(Debug, Default)]
struct State {
    pairs: HashMap<Key, Pair>,
    /// Channel counters of each vhost (and "" for all), live connections and retired ones.
    totals: HashMap<String, ChannelCounters>,
    /// What connections that closed had counted, per vhost.
    retired: HashMap<String, ChannelCounters>,
    /// The last sample of each connection: its vhost and its channels' totals.
    live: HashMap<u64, (String, ChannelCounters)>,
    /// The last sample's per-connection state, for lists that show it.
    connections: HashMap<u64, ConnectionStats>,
    history: VecDeque<OverviewPoint>,
}

#[derive(Debug, Default)]
pub struct Rates {
    state: Mutex<State>,
}

/// The counters of a queue, in a fixed order (`QUEUE_FIELDS`).
pub fn queue_values(c: &QueueCounters, ready: u64) -> Vec<u64> {
    vec![
        c.publish,
        c.deliver,
        c.deliver_no_ack,
        c.get,
        c.get_no_ack,
        c.get_empty,
        c.redeliver,
        c.ack,
        c.deliver_get(),
        ready + c.unacked,
        ready,
        c.unacked,
    ]
}

pub const QUEUE_FIELDS: [&str; 12] = [
    "publish",
    "deliver",
    "deliver_no_ack",
    "get",
    "get_no_ack",
    "get_empty",
    "redeliver",
    "ack",
    "deliver_get",
    "messages",
    "messages_ready",
    "messages_unacknowledged",
];

/// The counters of a channel (or a sum of channels), in a fixed order (`CHANNEL_FIELDS`).
pub fn channel_values(c: &ChannelCounters) -> Vec<u64> {
    vec![
        c.publish,
        c.confirm,
        c.return_unroutable,
        c.drop_unroutable,
        c.deliver,
        c.deliver_no_ack,
        c.get,
        c.get_no_ack,
        c.get_empty,
        c.redeliver,
        c.ack,
        c.deliver_get(),
    ]
}

pub const CHANNEL_FIELDS: [&str; 12] = [
    "publish",
    "confirm",
    "return_unroutable",
    "drop_unroutable",
    "deliver",
    "deliver_no_ack",
    "get",
    "get_no_ack",
    "get_empty",
    "redeliver",
    "ack",
    "deliver_get",
];

/// Samples `core` into `rates` every [`SAMPLE_INTERVAL`] until `shutdown` turns true: one
/// sampler for the management API and the Prometheus metrics alike.
pub async fn sample_until(
    rates: Arc<Rates>,
    core: Arc<Core>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !*shutdown.borrow() {
        tokio::select! {
            _ = tick.tick() => rates.sample(&core).await,
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

impl Rates {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a sample of `key`'s counters.
    fn observe(st: &mut State, key: Key, now: Instant, values: Vec<u64>) {
        match st.pairs.get_mut(&key) {
            Some(p) => {
                let last = std::mem::replace(&mut p.last, (now, values));
                p.prev = Some(last);
            }
            None => {
                st.pairs.insert(
                    key,
                    Pair {
                        prev: None,
                        last: (now, values),
                    },
                );
            }
        }
    }

    /// The per-second rates of `key`'s counters over the last interval (zeros before a
    /// second sample).
    pub fn rates(&self, key: &Key, n: usize) -> Vec<f64> {
        let st = self.lock();
        Self::rates_locked(&st, key, n)
    }

    fn rates_locked(st: &State, key: &Key, n: usize) -> Vec<f64> {
        let Some(Pair {
            prev: Some((t0, v0)),
            last: (t1, v1),
        }) = st.pairs.get(key)
        else {
            return vec![0.0; n];
        };
        let dt = t1.duration_since(*t0).as_secs_f64();
        (0..n)
            .map(|i| {
                let (a, b) = (v0.get(i).copied(), v1.get(i).copied());
                match (a, b) {
                    (Some(a), Some(b)) if dt > 0.0 => (b as f64 - a as f64) / dt,
                    _ => 0.0,
                }
            })
            .collect()
    }

    /// Channel counters summed over a vhost's connections (`""`: all), live and closed, as
    /// of the last sample.
    pub fn totals(&self, vhost: &str) -> ChannelCounters {
        self.lock().totals.get(vhost).copied().unwrap_or_default()
    }

    /// A connection's state as of the last sample.
    pub fn connection(&self, id: u64) -> Option<ConnectionStats> {
        self.lock().connections.get(&id).cloned()
    }

    pub fn history(&self) -> Vec<OverviewPoint> {
        self.lock().history.iter().cloned().collect()
    }

    /// Takes one sample of everything.
    pub async fn sample(&self, core: &Arc<Core>) {
        let now = Instant::now();
        let mut described = Vec::new();
        for info in core.connections() {
            if let Some(stats) = core.describe_connection(info.id).await {
                described.push((info, stats));
            }
        }
        let mut queues = Vec::new();
        for vhost in core.vhost_names() {
            if let Some(v) = core.vhost(&vhost) {
                for q in v.queues() {
                    let i = q.info();
                    queues.push((vhost.clone(), q.name.clone(), i));
                }
            }
        }
        let mut st = self.lock();
        // Connections: retire the ones gone since the last sample.
        let seen: std::collections::HashSet<u64> = described.iter().map(|(i, _)| i.id).collect();
        let gone: Vec<u64> = st
            .live
            .keys()
            .filter(|id| !seen.contains(id))
            .copied()
            .collect();
        for id in gone {
            if let Some((vhost, c)) = st.live.remove(&id) {
                st.retired.entry(vhost).or_default().add(&c);
            }
            st.pairs
                .retain(|k, _| !matches!(k, Key::Connection(c) | Key::Channel(c, _) if *c == id));
        }
        st.connections.clear();
        let mut totals: HashMap<String, ChannelCounters> = st.retired.clone();
        for (info, stats) in described {
            let mut sum = ChannelCounters::default();
            for ch in &stats.channels {
                sum.add(&ch.counters);
                Self::observe(
                    &mut st,
                    Key::Channel(info.id, ch.number),
                    now,
                    channel_values(&ch.counters),
                );
            }
            let io = vec![
                stats.recv_oct,
                stats.send_oct,
                stats.recv_cnt,
                stats.send_cnt,
            ];
            Self::observe(&mut st, Key::Connection(info.id), now, io);
            totals.entry(info.vhost.clone()).or_default().add(&sum);
            st.live.insert(info.id, (info.vhost.clone(), sum));
            st.connections.insert(info.id, stats);
        }
        let mut all = ChannelCounters::default();
        for c in totals.values() {
            all.add(c);
        }
        for (vhost, c) in &totals {
            Self::observe(&mut st, Key::Vhost(vhost.clone()), now, channel_values(c));
        }
        totals.insert(String::new(), all);
        Self::observe(&mut st, Key::Overview, now, channel_values(&all));
        st.totals = totals;
        // Queues, and the message counts of the overview.
        let (mut ready, mut unacked) = (0, 0);
        let mut present = std::collections::HashSet::new();
        for (vhost, name, i) in queues {
            ready += i.ready;
            unacked += i.counters.unacked;
            let key = Key::Queue(vhost, name.to_string());
            present.insert(key.clone());
            Self::observe(&mut st, key, now, queue_values(&i.counters, i.ready));
        }
        st.pairs
            .retain(|k, _| !matches!(k, Key::Queue(..)) || present.contains(k));
        let r = Self::rates_locked(&st, &Key::Overview, CHANNEL_FIELDS.len());
        let point = OverviewPoint {
            timestamp: crate::broker::timer::now_ms(),
            messages: ready + unacked,
            messages_ready: ready,
            messages_unacknowledged: unacked,
            publish_rate: r[0],
            deliver_get_rate: r[11],
            ack_rate: r[10],
        };
        if st.history.len() == HISTORY {
            st.history.pop_front();
        }
        st.history.push_back(point);
    }
}
