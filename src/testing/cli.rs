//! `warren replay` and `warren diff` as commands: arguments, output and exit codes.

use super::{diff as semantic, replay as replaying, transcript};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The transcript whose client side is re-sent (JSON lines, as recorded).
    pub file: PathBuf,
    /// The broker to replay against: amqp://user:password@host:port/vhost (the vhost is
    /// optional; without it the recorded one is used).
    #[arg(long, value_name = "URL")]
    pub against: String,
    /// Where the new transcript goes; standard output by default.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// How long to wait for the broker's answers before sending the next frame anyway.
    #[arg(long, value_name = "MS", default_value_t = replaying::DEFAULT_WAIT.as_millis() as u64)]
    pub wait_ms: u64,
    /// Send frames as fast as the answers allow instead of at the recorded client's pace.
    #[arg(long)]
    pub no_pace: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    pub a: PathBuf,
    pub b: PathBuf,
    /// Show the first difference of every stream (connection, channel, direction, kind)
    /// that differs, not only the first overall.
    #[arg(long)]
    pub all: bool,
}

/// Runs `warren replay`: 0 when the replay ran (whatever the broker answered), 2 otherwise.
pub fn replay(args: &ReplayArgs) -> u8 {
    let records = match transcript::read_file(&args.file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warren replay: {e}");
            return 2;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("warren replay: cannot start a runtime: {e}");
            return 2;
        }
    };
    let options = replaying::Options {
        wait: std::time::Duration::from_millis(args.wait_ms),
        pace: !args.no_pace,
    };
    let answered = match runtime.block_on(replaying::replay(&records, &args.against, options)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("warren replay: {e}");
            return 2;
        }
    };
    let lines = transcript::to_lines(&answered);
    match &args.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, lines) {
                eprintln!("warren replay: cannot write {}: {e}", path.display());
                return 2;
            }
        }
        None => print!("{lines}"),
    }
    0
}

/// Runs `warren diff`: 0 when equivalent, 1 when different, 2 when a file cannot be read.
pub fn diff(args: &DiffArgs) -> u8 {
    let read = |p: &PathBuf| {
        transcript::read_file(p).map_err(|e| eprintln!("warren diff: {}: {e}", p.display()))
    };
    let (Ok(a), Ok(b)) = (read(&args.a), read(&args.b)) else {
        return 2;
    };
    let found = semantic::differences(&a, &b);
    if found.is_empty() {
        println!("no difference ({} and {} records)", a.len(), b.len());
        return 0;
    }
    let shown = if args.all { found.len() } else { 1 };
    for d in &found[..shown] {
        print!("{d}");
    }
    if found.len() > shown {
        println!(
            "({} more streams differ; --all shows them)",
            found.len() - shown
        );
    }
    1
}
