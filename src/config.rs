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

    /// Directory for durable state. Accepted and checked now; messages are kept in memory
    /// until the durability work lands.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Checks what clap cannot: that the data directory exists (or can be made) and is
    /// writable.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(dir) = &self.data_dir {
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
