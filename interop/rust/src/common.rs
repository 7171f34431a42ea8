//! Shared by both scenario binaries: URL parsing, unique names, bounded waits and the runner
//! that prints one `SCENARIO <id> pass|fail|na [detail]` line per scenario.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The parts of `amqp://user:pass@host:port/vhost` the scenarios need.
#[derive(Clone, Debug)]
pub struct Url {
    pub raw: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub pass: String,
    pub vhost: String,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_url(raw: &str) -> Result<Url, String> {
    let rest = raw
        .strip_prefix("amqp://")
        .ok_or_else(|| format!("only amqp:// URLs are supported, got {raw}"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let path = path.split('?').next().unwrap_or("");
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (&authority[..i], &authority[i + 1..]),
        None => ("guest:guest", authority),
    };
    let (user, pass) = match userinfo.find(':') {
        Some(i) => (&userinfo[..i], &userinfo[i + 1..]),
        None => (userinfo, ""),
    };
    let (host, port) = match hostport.rfind(':') {
        Some(i) => (
            &hostport[..i],
            hostport[i + 1..].parse::<u16>().map_err(|e| format!("bad port in {raw}: {e}"))?,
        ),
        None => (hostport, 5672),
    };
    let vhost = if path.is_empty() { "/".to_string() } else { percent_decode(path) };
    Ok(Url {
        raw: raw.to_string(),
        host: host.to_string(),
        port,
        user: percent_decode(user),
        pass: percent_decode(pass),
        vhost,
    })
}

/// The vhost_user_tls set-up interop/run exports: the amqps URL (parsed as its amqp twin, with
/// `raw` the amqps URL itself), the CA file and the URL of the same user to vhost "/".
pub struct TlsSetup {
    pub tls: Url,
    pub ca: String,
    pub refused: Url,
}

/// The set-up, or `Outcome::Na` when interop/run gave none.
pub fn tls_setup() -> Result<Result<TlsSetup, Outcome>, String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(tls), Some(ca), Some(refused)) =
        (var("INTEROP_TLS_URL"), var("INTEROP_TLS_CA"), var("INTEROP_PLAIN_URL_FOR_USER"))
    else {
        return Ok(Err(Outcome::Na("no TLS set-up given".into())));
    };
    let rest = tls.strip_prefix("amqps://").ok_or_else(|| format!("INTEROP_TLS_URL is not amqps: {tls}"))?;
    let mut parsed = parse_url(&format!("amqp://{rest}"))?;
    if !rest.split('/').next().unwrap_or("").rsplit('@').next().unwrap_or("").contains(':') {
        parsed.port = 5671;
    }
    parsed.raw = tls;
    Ok(Ok(TlsSetup { tls: parsed, ca, refused: parse_url(&refused)? }))
}

/// Names for vhost_user_tls: an exchange and a queue under ^tls-.* (all the user may
/// configure, write and read), a queue outside it, and a 1 KiB + 16 byte binary body.
pub fn tls_names() -> (String, String, String, Vec<u8>) {
    let body: Vec<u8> = (0..1024u32).map(|i| i as u8).chain(uniq("body").bytes().rev().take(16)).collect();
    (format!("tls-{}", uniq("x")), format!("tls-{}", uniq("q")), format!("denied.{}", uniq("q")), body)
}

/// Whose 403 text `text` is for declaring `queue` outside the configure permission, or None:
/// RabbitMQ 3.12 and later (and Warren) name the permission, 3.10 does not.
pub fn refused_text_kind(text: &str, queue: &str, vhost: &str, user: &str) -> Option<&'static str> {
    let tail = format!("access to queue '{queue}' in vhost '{vhost}' refused for user '{user}'");
    if text == format!("ACCESS_REFUSED - configure {tail}") {
        Some("403 text as RabbitMQ 4.x's (naming 'configure')")
    } else if text == format!("ACCESS_REFUSED - {tail}") {
        Some("403 text as RabbitMQ 3.10's (without 'configure')")
    } else {
        None
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other run or client uses: prefix, process id, clock and a counter.
pub fn uniq(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("interop.{prefix}.{}.{:x}.{n}", std::process::id(), nanos)
}

pub enum Outcome {
    Pass(String),
    Na(String),
}

pub type R = Result<Outcome, String>;

pub fn pass() -> R {
    Ok(Outcome::Pass(String::new()))
}

pub fn ensure(cond: bool, what: impl Into<String>) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.into()) }
}

/// Adds what was being done to a client error.
pub trait Ctx<T> {
    fn ctx(self, what: &str) -> Result<T, String>;
}

impl<T, E: std::fmt::Debug> Ctx<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e:?}"))
    }
}

/// The longest single wait a scenario makes.
pub const WAIT: Duration = Duration::from_secs(5);

/// Waits at most `WAIT` for `fut`.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> Result<T, String> {
    tokio::time::timeout(WAIT, fut).await.map_err(|_| format!("timed out after 5 s waiting for {what}"))
}

pub type Scenario = fn(Url) -> Pin<Box<dyn Future<Output = R> + Send>>;

/// Runs every scenario in order, each in its own task (a panic fails that scenario only) and
/// with an overall bound, and prints its result line.
pub async fn run_all(url: Url, scenarios: &[(&str, Scenario)]) {
    for (id, f) in scenarios {
        let task = tokio::spawn(f(url.clone()));
        let abort = task.abort_handle();
        let line = match tokio::time::timeout(Duration::from_secs(40), task).await {
            Ok(Ok(Ok(Outcome::Pass(d)))) => format!("pass {d}"),
            Ok(Ok(Ok(Outcome::Na(d)))) => format!("na {d}"),
            Ok(Ok(Err(e))) => format!("fail {e}"),
            Ok(Err(join)) => format!("fail scenario panicked: {join}"),
            Err(_) => {
                abort.abort();
                "fail scenario took more than 40 s".to_string()
            }
        };
        let line = line.replace(['\n', '\r'], " ");
        println!("SCENARIO {id} {}", line.trim_end());
    }
}

/// A body of `len` bytes with a recognisable, non-repeating-at-frame-size pattern.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + i / 251) % 256) as u8).collect()
}
