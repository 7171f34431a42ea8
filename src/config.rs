//! Command-line configuration.

use crate::tls::{TlsSettings, Verify};
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "warren",
    version,
    about = "An AMQP 0-9-1 message broker that speaks RabbitMQ's dialect",
    args_conflicts_with_subcommands = true
)]
pub struct Config {
    /// Without a subcommand `warren` runs the broker with the flags below.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Address to accept AMQP connections on; repeat for several.
    #[arg(
        long = "listen",
        value_name = "ADDR:PORT",
        default_value = "0.0.0.0:5672"
    )]
    pub listen: Vec<SocketAddr>,

    /// Address to accept AMQP connections over TLS (amqps) on; repeat for several. Needs
    /// --tls-cert and --tls-key.
    #[arg(long = "tls-listen", value_name = "ADDR:PORT", requires_all = ["tls_cert", "tls_key"])]
    pub tls_listen: Vec<SocketAddr>,

    /// The server's TLS certificate chain, PEM, its own certificate first.
    #[arg(long, value_name = "FILE", requires = "tls_listen")]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert, PEM (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_listen")]
    pub tls_key: Option<PathBuf>,

    /// CA certificates, PEM, that client certificates must chain to. With it clients are asked
    /// for a certificate, and one that verifies lets them log in with SASL EXTERNAL.
    #[arg(long, value_name = "FILE", requires = "tls_listen")]
    pub tls_ca: Option<PathBuf>,

    /// Client certificates (RabbitMQ's ssl_options.verify and fail_if_no_peer_cert): none,
    /// peer (asked for, verified if sent; the default with --tls-ca) or peer-required.
    #[arg(long, value_name = "MODE", value_enum, requires = "tls_listen")]
    pub tls_verify: Option<Verify>,

    /// Address of the management HTTP API (RabbitMQ's /api) and web UI.
    #[arg(
        long,
        value_name = "ADDR:PORT",
        default_value = "0.0.0.0:15672",
        conflicts_with = "no_management"
    )]
    pub management_listen: SocketAddr,

    /// Serve no management API.
    #[arg(long)]
    pub no_management: bool,

    /// Address of the Prometheus metrics (rabbitmq_prometheus's /metrics,
    /// /metrics/per-object and /metrics/detailed).
    #[arg(
        long,
        value_name = "ADDR:PORT",
        default_value = "0.0.0.0:15692",
        conflicts_with = "no_prometheus"
    )]
    pub prometheus_listen: SocketAddr,

    /// Serve no Prometheus metrics.
    #[arg(long)]
    pub no_prometheus: bool,

    /// Log filter: error, warn, info, debug, trace, or a tracing directive.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: String,

    /// Directory for durable state: durable exchanges, queues and bindings, and persistent
    /// messages in durable queues. Default: $XDG_DATA_HOME/warren, else
    /// ~/.local/share/warren, else ./warren-data.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Keep everything in memory: no data directory, nothing survives a restart.
    #[arg(long, conflicts_with = "data_dir")]
    pub in_memory: bool,

    /// Block publishing connections while the data directory's filesystem has less free space
    /// than this (RabbitMQ's disk_free_limit): bytes, or with a unit such as 50MB or 2GiB.
    #[arg(long, value_name = "SIZE", default_value = "50MB", value_parser = parse_size)]
    pub disk_free_limit: u64,

    /// Block publishing connections while the broker's messages and buffers take more memory
    /// than this (RabbitMQ's vm_memory_high_watermark): a fraction of physical memory such as
    /// 0.4, or a size such as 512MiB. From half of it on, queues page messages to disk when
    /// there is a data directory.
    #[arg(long, value_name = "FRACTION|SIZE", default_value = "0.4", value_parser = crate::broker::memory::Watermark::parse)]
    pub memory_high_watermark: crate::broker::memory::Watermark,

    /// The largest message body accepted (RabbitMQ's max_message_size): bytes, or with a unit
    /// such as 16MiB; at most 512MiB. A larger publish closes its channel with 406. Default:
    /// the profile's, 16MiB (128MiB with a rabbitmq-3.x profile).
    #[arg(long, value_name = "SIZE", value_parser = parse_max_message_size)]
    pub max_message_size: Option<u64>,

    /// The most client connections the node takes (RabbitMQ's connection_max); past it
    /// connection.open is refused with 530 "node connection limit (N) is reached". Unlimited
    /// when not given.
    #[arg(long, value_name = "N")]
    pub connection_max: Option<u64>,

    /// How long a delivery may stay unacked (RabbitMQ's consumer_timeout), in
    /// milliseconds; 0 for no limit. What happens then depends on --profile: up to
    /// rabbitmq-4.2 the channel is closed with 406; from 4.3 (and by default) only quorum
    /// queues time out, cancelling the consumer.
    #[arg(long, value_name = "MS", default_value_t = crate::broker::DEFAULT_CONSUMER_TIMEOUT_MS)]
    pub consumer_timeout: u64,

    /// Behave as this RabbitMQ release where releases differ in ways clients notice:
    /// default, rabbitmq-3.10, rabbitmq-3.13, rabbitmq-4.0, rabbitmq-4.1, rabbitmq-4.2 or
    /// rabbitmq-4.3. The default accepts what applications send today, including what 4.x
    /// refuses (reported by GET /api/warren/diagnostics).
    #[arg(long, value_name = "PROFILE", default_value = "default")]
    pub profile: crate::broker::profile::Profile,

    /// Create a virtual host at start (kept in the data directory); repeat for several.
    #[arg(long = "vhost", value_name = "NAME")]
    pub vhosts: Vec<String>,

    /// Create (or reset) a user with a password, tagged administrator, with every
    /// permission on every vhost; repeat for several.
    #[arg(long = "user", value_name = "NAME:PASSWORD", value_parser = parse_user)]
    pub users: Vec<(String, String)>,

    /// Whom SASL ANONYMOUS logs in as, RabbitMQ's `anonymous_login_user` and
    /// `anonymous_login_pass`. The mechanism is offered under the default and 4.x profiles,
    /// as RabbitMQ 4.x offers it; the login is checked as any other (guest: loopback only).
    /// `none` turns it off, as RabbitMQ's production checklist advises.
    #[arg(long, value_name = "USER:PASSWORD|none", default_value = "guest:guest", value_parser = parse_anonymous_login)]
    pub anonymous_login: AnonymousLogin,

    /// Import a RabbitMQ definitions file (users, vhosts, permissions, exchanges, queues,
    /// bindings) at start, as `rabbitmqctl import_definitions` does.
    #[arg(long, value_name = "FILE")]
    pub definitions: Option<PathBuf>,

    /// Record connections frame by frame from the start, one JSON-lines transcript per
    /// connection in DIR (`warren replay` and `warren diff` read them). All connections,
    /// unless narrowed by --record-connection-name or --record-user.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,

    /// Record only connections whose client gave this connection_name.
    #[arg(long, value_name = "NAME", requires = "record")]
    pub record_connection_name: Option<String>,

    /// Record only this user's connections.
    #[arg(long, value_name = "USER", requires = "record")]
    pub record_user: Option<String>,

    /// Record message bodies sizes only, not the bodies.
    #[arg(long, requires = "record")]
    pub record_no_bodies: bool,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Manage a running broker (Warren or RabbitMQ) over its management HTTP API with
    /// rabbitmqctl's commands: `warren ctl list_queues name messages`.
    Ctl(crate::ctl::CtlArgs),
    /// Re-send the client side of a transcript to a broker and record its answers.
    Replay(crate::testing::cli::ReplayArgs),
    /// Compare two transcripts semantically; print the first difference. Exit 0 when
    /// equivalent, 1 when different, 2 when a transcript cannot be read.
    Diff(crate::testing::cli::DiffArgs),
}

/// `NAME:PASSWORD`, split at the first colon (a password may contain colons).
pub fn parse_user(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((name, password)) if !name.is_empty() => Ok((name.to_owned(), password.to_owned())),
        _ => Err(format!("{text:?} is not NAME:PASSWORD")),
    }
}

/// `--anonymous-login`: the credentials SASL ANONYMOUS stands for, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnonymousLogin(pub Option<(String, String)>);

/// `USER:PASSWORD`, or `none`.
pub fn parse_anonymous_login(text: &str) -> Result<AnonymousLogin, String> {
    if text == "none" {
        return Ok(AnonymousLogin(None));
    }
    parse_user(text)
        .map(|login| AnonymousLogin(Some(login)))
        .map_err(|_| format!("{text:?} is neither USER:PASSWORD nor none"))
}

/// A size in bytes: a number, optionally followed by kB, MB, GB, TB (powers of 1000) or KiB,
/// MiB, GiB, TiB (powers of 1024); case is ignored, as RabbitMQ's config does.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (say 50MB, 2GiB or a number of bytes)"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1_000,
        "mb" | "m" => 1_000_000,
        "gb" | "g" => 1_000_000_000,
        "tb" | "t" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// `--max-message-size`: a size no larger than RabbitMQ's ceiling of 512 MiB.
pub fn parse_max_message_size(text: &str) -> Result<u64, String> {
    let n = parse_size(text)?;
    let cap = crate::broker::message::MAX_MESSAGE_SIZE_CAP;
    if n > cap {
        return Err(format!(
            "{text:?} is over the maximum of 512MiB ({cap} bytes)"
        ));
    }
    Ok(n)
}

impl Config {
    /// Where durable state lives, or None when running in memory.
    pub fn data_dir(&self) -> Option<PathBuf> {
        if self.in_memory {
            return None;
        }
        if let Some(dir) = &self.data_dir {
            return Some(dir.clone());
        }
        let home_data = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
        Some(match home_data {
            Some(base) => base.join("warren"),
            None => PathBuf::from("warren-data"),
        })
    }

    /// The amqps listeners' TLS configuration, when there are any: the files read and checked
    /// (a startup error names the file and what is wrong with it).
    pub fn tls_config(&self) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let mut settings = TlsSettings::from_files(cert, key).map_err(|e| e.to_string())?;
        if let Some(ca) = &self.tls_ca {
            settings = settings.client_ca_file(ca).map_err(|e| e.to_string())?;
        }
        if let Some(verify) = self.tls_verify {
            settings = settings.verify(verify);
        }
        settings
            .server_config()
            .map(Some)
            .map_err(|e| e.to_string())
    }

    /// Checks what clap cannot: that the data directory exists (or can be made) and is
    /// writable.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(dir) = &self.data_dir() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create data directory {}: {e}", dir.display()))?;
            let probe = dir.join(".warren-write-check");
            std::fs::write(&probe, b"ok")
                .map_err(|e| format!("data directory {} is not writable: {e}", dir.display()))?;
            let _ = std::fs::remove_file(probe);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!(parse_size("50MB"), Ok(50_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("3 kb"), Ok(3000));
        assert!(parse_size("MB").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("99999999999TB").is_err());
    }

    #[test]
    fn the_message_size_limit_stops_at_512_mib() {
        assert_eq!(super::parse_max_message_size("512MiB"), Ok(512 << 20));
        assert!(super::parse_max_message_size("513MiB").is_err());
    }
}
