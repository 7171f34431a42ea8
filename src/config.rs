//! Command-line configuration.

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "warren",
    version,
    about = "An AMQP 0-9-1 message broker that speaks RabbitMQ's dialect"
)]
pub struct Config {
    /// Address to accept AMQP connections on; repeat for several.
    #[arg(
        long = "listen",
        value_name = "ADDR:PORT",
        default_value = "0.0.0.0:5672"
    )]
    pub listen: Vec<SocketAddr>,

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
}

impl Config {
    /// Checks what clap cannot: that the data directory exists (or can be made) and is
    /// writable.
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
