//! `warren`: the broker as a program.

use clap::Parser;
use std::process::ExitCode;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;
use warren::broker::Core;
use warren::config::{Command, Config};
use warren::management::prometheus;
use warren::management::rates::{self, Rates};
use warren::server::Listener;

/// mimalloc, for what glibc's malloc costs a message freed on another thread than the one
/// that allocated it (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = match Config::try_parse() {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    match &config.command {
        Some(Command::Ctl(args)) => return ExitCode::from(warren::ctl::run(args)),
        Some(Command::Replay(args)) => return ExitCode::from(warren::testing::cli::replay(args)),
        Some(Command::Diff(args)) => return ExitCode::from(warren::testing::cli::diff(args)),
        None => {}
    }
    let filter = EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if let Err(e) = config.validate() {
        tracing::error!("{e}");
        return ExitCode::from(2);
    }
    let tls = match config.tls_config() {
        Ok(tls) => tls,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        // Recover first, listen after: a client that connects is served at once.
        let core = match config.data_dir() {
            Some(dir) => {
                tracing::info!("data directory {}", dir.display());
                match tokio::task::block_in_place(|| Core::open_as(&dir, config.profile)) {
                    Ok(core) => core,
                    Err(e) => {
                        tracing::error!("cannot open the data directory {}: {e}", dir.display());
                        return ExitCode::FAILURE;
                    }
                }
            }
            None => Core::new(),
        };
        let mut core = core;
        core.set_profile(config.profile);
        core.set_anonymous_login(config.anonymous_login.0.clone());
        tracing::info!("profile {}", config.profile);
        let mut listeners: Vec<Listener> = match warren::server::bind(&config.listen).await {
            Ok(l) => l.into_iter().map(Listener::plain).collect(),
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        };
        if let Some(tls) = tls {
            match warren::server::bind(&config.tls_listen).await {
                Ok(l) => listeners.extend(l.into_iter().map(|l| Listener::tls(l, tls.clone()))),
                Err(e) => {
                    tracing::error!("{e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        let management = if config.no_management {
            None
        } else {
            match tokio::net::TcpListener::bind(config.management_listen).await {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::error!(
                        "cannot listen on {} for the management API: {e} (--management-listen picks another address, --no-management turns it off)",
                        config.management_listen
                    );
                    return ExitCode::FAILURE;
                }
            }
        };
        let prometheus = if config.no_prometheus {
            None
        } else {
            match tokio::net::TcpListener::bind(config.prometheus_listen).await {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::error!(
                        "cannot listen on {} for the Prometheus metrics: {e} (--prometheus-listen picks another address, --no-prometheus turns them off)",
                        config.prometheus_listen
                    );
                    return ExitCode::FAILURE;
                }
            }
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            let _ = stop_tx.send(true);
        });
        core.disk_alarm().set_limit(config.disk_free_limit);
        core.set_connection_max(config.connection_max);
        core.set_consumer_timeout(
            (config.consumer_timeout > 0)
                .then(|| std::time::Duration::from_millis(config.consumer_timeout)),
        );
        if let Some(bytes) = config.max_message_size {
            core.set_max_message_size(bytes);
        }
        core.memory_alarm()
            .set_watermark(config.memory_high_watermark);
        if let Err(e) = apply_access_flags(&core, &config) {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
        if let Some(dir) = &config.record {
            let selector = warren::testing::Selector {
                connection_name: config.record_connection_name.clone(),
                user: config.record_user.clone(),
                bodies: !config.record_no_bodies,
            };
            match core.recordings().start_in(selector, dir) {
                Ok(r) => tracing::info!("recording connections into {} (recording {})", dir.display(), r.id()),
                Err(e) => {
                    tracing::error!("cannot record into {}: {e}", dir.display());
                    return ExitCode::FAILURE;
                }
            }
        }
        // What POST /api/warren/reset returns to.
        core.mark_initial();
        let core = Arc::new(core);
        let rates = Arc::new(Rates::default());
        if management.is_some() || prometheus.is_some() {
            tokio::spawn(rates::sample_until(rates.clone(), core.clone(), stop_rx.clone()));
        }
        if let Some(l) = management {
            let infos = warren::server::listener_infos(&listeners);
            tokio::spawn(warren::management::serve(
                l,
                core.clone(),
                infos,
                rates.clone(),
                stop_rx.clone(),
            ));
        }
        if let Some(l) = prometheus {
            tokio::spawn(prometheus::serve(l, core.clone(), rates, stop_rx.clone()));
        }
        warren::server::serve(listeners, core, stop_rx).await;
        ExitCode::SUCCESS
    })
}

/// Prints clap's message; `warren ctl` exits 64 on a usage error as rabbitmqctl does, the
/// broker 2 as before.
fn usage_error(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    if !e.use_stderr() {
        return ExitCode::SUCCESS; // --help, --version
    }
    let ctl = std::env::args().nth(1).is_some_and(|a| a == "ctl");
    ExitCode::from(if ctl { warren::ctl::exit::USAGE } else { 2 })
}

/// --vhost, --user and --definitions: what a fresh broker should hold besides guest on "/".
fn apply_access_flags(core: &Core, config: &warren::config::Config) -> Result<(), String> {
    for name in &config.vhosts {
        core.add_vhost(name)
            .map_err(|e| format!("cannot create vhost '{name}': {e}"))?;
    }
    for (name, password) in &config.users {
        core.add_admin(name, password);
    }
    if let Some(file) = &config.definitions {
        let bytes = std::fs::read(file)
            .map_err(|e| format!("cannot read definitions {}: {e}", file.display()))?;
        let done = core
            .import_definitions(&bytes)
            .map_err(|e| format!("definitions {} are not valid JSON: {e}", file.display()))?;
        tracing::info!(
            users = done.users,
            vhosts = done.vhosts,
            exchanges = done.exchanges,
            queues = done.queues,
            bindings = done.bindings,
            skipped = done.skipped.len(),
            "imported definitions from {}",
            file.display()
        );
    }
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
