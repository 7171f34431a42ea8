//! `warren replay`: re-sends the client side of a transcript to any broker and records what
//! that broker answers, as a new transcript of the same format.
//!
//! The client's frames go out one by one, in order. Before each, the replay waits until the
//! broker has answered as much as the recorded broker had at that point ([`Progress`]), or
//! until `wait` passes: a synchronous method waits for its answer, an ack for the delivery it
//! acknowledges, and a broker that answers less (a closed channel, say) costs a `wait`, not a
//! hang; what it did not send is not waited for again. So the replay needs no model of which
//! methods are synchronous, and its client side is the recorded one frame for frame.
//!
//! Three things are rewritten on the way: connection.start-ok logs in with the URL's user and
//! password (transcripts never hold a password), connection.open names the URL's vhost when
//! the URL has one, and a name the recorded broker generated (`amq.gen-*`, `amq.ctag-*`,
//! direct reply-to addresses) is replaced by the name the new broker generated in its place,
//! matched by order of appearance.
//!
//! Connections of a multi-connection transcript are replayed one after the other.

use super::recorder::FrameReader;
use super::transcript::{self, Dir, Kind, Record, TranscriptError};
use bytes::BytesMut;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a replay waits for the broker before sending a frame anyway.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(1);

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("{0}")]
    Url(String),
    #[error("cannot connect to {addr}: {error}")]
    Connect { addr: String, error: std::io::Error },
    #[error("transcript: {0}")]
    Transcript(#[from] TranscriptError),
}

/// Where a replay goes: an `amqp://user:password@host:port/vhost` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// None when the URL has no path: the recorded vhost is kept.
    pub vhost: Option<String>,
}

impl Target {
    /// Parses an AMQP URL as RabbitMQ's URI spec reads it: guest/guest and port 5672 by
    /// default, percent-encoded user, password and vhost (`%2f` is "/").
    pub fn parse(url: &str) -> Result<Target, ReplayError> {
        let bad = |why: &str| ReplayError::Url(format!("{url:?}: {why}"));
        let rest = url
            .strip_prefix("amqp://")
            .ok_or_else(|| bad("only amqp:// URLs can be replayed against"))?;
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (rest, None),
        };
        let (credentials, hostport) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, authority),
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| bad("percent-encoding is not UTF-8"))
        };
        let (user, password) = match credentials {
            Some(c) => match c.split_once(':') {
                Some((u, p)) => (decode(u)?, decode(p)?),
                None => (decode(c)?, String::new()),
            },
            None => ("guest".to_owned(), "guest".to_owned()),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            (host.to_owned(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (hostport.to_owned(), None),
            }
        };
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("the port is not a number"))?,
            None => 5672,
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let vhost = match path {
            None | Some("") => None,
            Some(p) => Some(decode(p)?),
        };
        Ok(Target {
            host,
            port,
            user,
            password,
            vhost,
        })
    }
}

/// A name the broker made up, which differs from broker to broker and run to run.
pub fn is_generated(s: &str) -> bool {
    s.starts_with("amq.gen-")
        || s.starts_with("amq.ctag-")
        || s.starts_with("amq.rabbitmq.reply-to.")
}

/// Adds every generated name in `v` not in `names` yet, in order.
pub(super) fn collect_generated(v: &Value, names: &mut Vec<String>) {
    match v {
        Value::String(s) if is_generated(s) && !names.contains(s) => names.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| collect_generated(i, names)),
        Value::Object(m) => m.values().for_each(|i| collect_generated(i, names)),
        _ => {}
    }
}

fn record_names(r: &Record, names: &mut Vec<String>) {
    for m in [&r.fields, &r.properties].into_iter().flatten() {
        m.values().for_each(|v| collect_generated(v, names));
    }
}

/// Replaces each string equal to `from[i]` by `to[i]`.
fn substitute(v: &mut Value, from: &[String], to: &[String]) {
    match v {
        Value::String(s) => {
            if let Some(i) = from.iter().position(|f| f == s)
                && let Some(new) = to.get(i)
            {
                *s = new.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| substitute(i, from, to)),
        Value::Object(m) => m.values_mut().for_each(|i| substitute(i, from, to)),
        _ => {}
    }
}

fn substitute_map(m: &mut Option<Map<String, Value>>, from: &[String], to: &[String]) {
    if let Some(m) = m {
        m.values_mut().for_each(|v| substitute(v, from, to));
    }
}

/// How much a broker has answered: its frames, heartbeats aside, except that a publisher
/// confirm counts the messages it confirms, so a broker that confirms one by one and one that
/// confirms in batches (`multiple`) are as far along after the same messages.
#[derive(Debug, Default)]
pub struct Progress {
    total: usize,
    /// Per channel: confirmed up to `.0`, and the tags in `.1` above it.
    confirmed: HashMap<u16, (u64, BTreeSet<u64>)>,
}

impl Progress {
    pub fn total(&self) -> usize {
        self.total
    }

    /// Counts a frame the broker sent.
    pub fn add(&mut self, r: &Record) {
        self.total += match r.kind {
            Kind::Heartbeat => 0,
            Kind::Method if r.is_method("basic.ack") || r.is_method("basic.nack") => {
                let field = |name: &str| r.fields.as_ref().and_then(|f| f.get(name));
                let tag = field("delivery_tag").and_then(Value::as_u64).unwrap_or(0);
                let multiple = field("multiple").and_then(Value::as_bool).unwrap_or(false);
                let (floor, above) = self.confirmed.entry(r.ch).or_default();
                if tag <= *floor {
                    0
                } else if !multiple {
                    usize::from(above.insert(tag))
                } else {
                    let already = above.range(..=tag).count() as u64;
                    let newly = tag - *floor - already;
                    *floor = tag;
                    above.retain(|t| *t > tag);
                    usize::try_from(newly).unwrap_or(usize::MAX)
                }
            }
            _ => 1,
        };
    }
}

/// How a replay goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// How long to wait for the broker's answers before sending the next frame anyway.
    pub wait: Duration,
    /// Keep the recorded client's pace: a frame is not sent earlier (since the first client
    /// frame) than it was recorded, so what depends on time (TTLs, queue expiry, a client
    /// polling) happens as it did. Off, frames go as fast as the answers allow.
    pub pace: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            wait: DEFAULT_WAIT,
            pace: true,
        }
    }
}

/// Replays every connection of `records` against the broker at `url`; the new broker's
/// transcript, connection by connection.
pub async fn replay(
    records: &[Record],
    url: &str,
    options: Options,
) -> Result<Vec<Record>, ReplayError> {
    let target = Target::parse(url)?;
    let mut conns: Vec<u32> = Vec::new();
    for r in records {
        if !conns.contains(&r.conn) {
            conns.push(r.conn);
        }
    }
    let mut out = Vec::new();
    for conn in conns {
        let mine: Vec<&Record> = records.iter().filter(|r| r.conn == conn).collect();
        out.extend(replay_connection(&mine, &target, options, conn).await?);
    }
    Ok(out)
}

/// What the socket reader and the sender share.
#[derive(Default)]
struct Shared {
    records: Vec<Record>,
    /// Names the new broker generated, in order of appearance.
    names: Vec<String>,
}

async fn replay_connection(
    records: &[&Record],
    target: &Target,
    options: Options,
    conn: u32,
) -> Result<Vec<Record>, ReplayError> {
    let wait = options.wait;
    // The recorded time of the client's first frame: the pace is kept from there.
    let first_sent = records
        .iter()
        .find(|r| r.dir == Dir::ClientToServer)
        .map_or(0.0, |r| r.t);
    let addr = format!("{}:{}", target.host, target.port);
    let stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|error| ReplayError::Connect { addr, error })?;
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.into_split();
    let started = Instant::now();
    let ms = move || started.elapsed().as_micros() as f64 / 1000.0;
    let shared = Arc::new(Mutex::new(Shared::default()));
    // (the broker's progress, the connection is over: socket closed or close-ok received)
    let (seen_tx, mut seen) = watch::channel((0usize, false));
    let reader = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut frames = FrameReader::new(Dir::ServerToClient);
            let mut buf = vec![0u8; 64 * 1024];
            let mut progress = Progress::default();
            let mut done = false;
            let mut decoded = Vec::new();
            loop {
                let n = rd.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    seen_tx.send_replace((progress.total(), true));
                    return;
                }
                frames.push(&buf[..n], true, &mut decoded);
                let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
                for mut r in decoded.drain(..) {
                    r.conn = conn;
                    r.t = ms();
                    progress.add(&r);
                    record_names(&r, &mut s.names);
                    // Close-ok ends the connection; the broker may keep the socket open a
                    // while for the client to close it.
                    done |= r.is_method("connection.close-ok");
                    s.records.push(r);
                }
                drop(s);
                seen_tx.send_replace((progress.total(), done));
            }
        })
    };
    let mut recorded_names = Vec::new();
    let mut recorded = Progress::default();
    // How many fewer frames the new broker has sent than the recorded one had.
    let mut deficit = 0;
    let mut sent = FrameReader::new(Dir::ClientToServer);
    let mut sent_records = Vec::new();
    for r in records {
        if r.dir == Dir::ServerToClient {
            recorded.add(r);
            record_names(r, &mut recorded_names);
            continue;
        }
        let expected = recorded.total();
        if r.kind == Kind::Heartbeat {
            continue;
        }
        let closed = wait_for(&mut seen, expected - deficit, wait).await;
        if closed {
            break;
        }
        if options.pace {
            let due = Duration::from_secs_f64(((r.t - first_sent) / 1000.0).clamp(0.0, 86_400.0));
            tokio::time::sleep_until(started + due).await;
        }
        // Answers that did not come are not waited for again at every later frame.
        let got = seen.borrow().0;
        deficit = deficit.max(expected.saturating_sub(got));
        let mut r = (*r).clone();
        {
            let s = shared.lock().unwrap_or_else(|e| e.into_inner());
            substitute_map(&mut r.fields, &recorded_names, &s.names);
            substitute_map(&mut r.properties, &recorded_names, &s.names);
        }
        rewrite(&mut r, target);
        let mut bytes = BytesMut::new();
        transcript::encode_frame(&r, &mut bytes)?;
        sent.push(&bytes, true, &mut sent_records);
        {
            let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
            for mut sr in sent_records.drain(..) {
                sr.conn = conn;
                sr.t = ms();
                s.records.push(sr);
            }
        }
        if wr.write_all(&bytes).await.is_err() {
            break;
        }
    }
    // What the recorded broker said after the client's last frame (close-ok, mostly).
    wait_for(&mut seen, recorded.total() - deficit, wait).await;
    if !seen.borrow().1 {
        // A broker closes the socket once it has answered connection.close; ending our side
        // first could cut that answer off (RabbitMQ drops close-ok for a half-closed socket).
        let _ = tokio::time::timeout(wait, seen.wait_for(|(_, closed)| *closed)).await;
    }
    let _ = wr.shutdown().await;
    reader.abort();
    let _ = reader.await;
    let mut s = shared.lock().unwrap_or_else(|e| e.into_inner());
    Ok(std::mem::take(&mut s.records))
}

/// Waits until the broker's progress reaches `count` or it closed, at most `wait`; whether it closed.
async fn wait_for(seen: &mut watch::Receiver<(usize, bool)>, count: usize, wait: Duration) -> bool {
    let _ = tokio::time::timeout(wait, seen.wait_for(|(n, closed)| *n >= count || *closed)).await;
    seen.borrow().1
}

/// The URL's credentials and vhost in place of the recorded ones.
fn rewrite(r: &mut Record, target: &Target) {
    let Some(fields) = &mut r.fields else {
        return;
    };
    if r.kind != Kind::Method {
        return;
    }
    match r.method.as_deref() {
        Some("connection.start-ok") => {
            fields.insert("mechanism".into(), Value::String("PLAIN".into()));
            let response = format!("\0{}\0{}", target.user, target.password);
            fields.insert("response".into(), Value::String(response));
        }
        Some("connection.open") => {
            if let Some(vhost) = &target.vhost {
                fields.insert("virtual_host".into(), Value::String(vhost.clone()));
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirms_count_the_messages_they_confirm() {
        let ack = |tag: u64, multiple: bool| {
            let line = format!(
                r#"{{"dir":"s2c","ch":1,"kind":"method","method":"basic.ack","fields":{{"delivery_tag":{tag},"multiple":{multiple}}}}}"#
            );
            transcript::parse(&line).expect("valid").remove(0)
        };
        let (mut one_by_one, mut batched) = (Progress::default(), Progress::default());
        for tag in 1..=5 {
            one_by_one.add(&ack(tag, false));
        }
        batched.add(&ack(2, false));
        batched.add(&ack(5, true));
        batched.add(&ack(4, false));
        assert_eq!((one_by_one.total(), batched.total()), (5, 5));
    }

    #[test]
    fn urls_read_as_rabbitmq_reads_them() {
        let t = Target::parse("amqp://u%40x:p%3Aw@example.org:5673/%2f").expect("valid");
        assert_eq!(
            t,
            Target {
                host: "example.org".into(),
                port: 5673,
                user: "u@x".into(),
                password: "p:w".into(),
                vhost: Some("/".into()),
            }
        );
        let t = Target::parse("amqp://localhost").expect("valid");
        assert_eq!((t.port, t.user.as_str(), t.vhost), (5672, "guest", None));
        let t = Target::parse("amqp://[::1]:5999/v").expect("valid");
        assert_eq!((t.host.as_str(), t.port), ("::1", 5999));
        assert!(Target::parse("amqps://localhost").is_err());
        assert!(Target::parse("amqp://localhost:x").is_err());
    }
}
