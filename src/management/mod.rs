//! The management plane: RabbitMQ's HTTP API (`/api/...`, the shapes rabbitmqadmin,
//! `rabbitmq_http_client`, Terraform and client test suites use), served on its own listener.
//!
//! Handlers are thin: they parse the request, call the broker core, and write RabbitMQ's
//! JSON. One file per resource family; `auth` has the tag rules, `error` the error bodies,
//! `query` RabbitMQ's list parameters, `rates` the sampler behind every `*_details.rate`,
//! `ui` the embedded web UI served at `/`, `control`, `diagnostics` and `recordings` Warren's
//! own test-broker API under `/api/warren/`.

mod access;
mod auth;
mod bindings;
mod body;
mod connections;
mod control;
mod definitions;
mod diagnostics;
mod error;
mod exchanges;
mod limits;
mod messages;
mod overview;
mod policies;
pub mod prometheus;
mod query;
mod queues;
pub mod rates;
mod recordings;
mod ui;

use crate::broker::Core;
use axum::Router;
use serde_json::{Map, Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What every handler shares.
#[derive(Clone)]
pub struct Api {
    pub core: Arc<Core>,
    pub rates: Arc<rates::Rates>,
    /// The broker's listeners, for /api/overview and the health checks.
    pub listeners: Arc<Vec<ListenerInfo>>,
    pub started: std::time::Instant,
}

/// A listener as /api/overview lists it.
#[derive(Debug, Clone)]
pub struct ListenerInfo {
    pub protocol: &'static str,
    pub addr: SocketAddr,
}

pub use crate::broker::node::name as node_name;

/// `{"name": n, "name_details": {"rate": r}, ...}` for counters and their rates, RabbitMQ's
/// shape of `message_stats`.
pub fn with_rates(out: &mut Map<String, Value>, fields: &[&str], values: &[u64], rates: &[f64]) {
    for (i, f) in fields.iter().enumerate() {
        out.insert((*f).to_owned(), json!(values.get(i).copied().unwrap_or(0)));
        out.insert(
            format!("{f}_details"),
            json!({"rate": rates.get(i).copied().unwrap_or(0.0)}),
        );
    }
}

/// The API's routes.
pub fn router(api: Api) -> Router {
    Router::new()
        .merge(overview::routes())
        .merge(connections::routes())
        .merge(queues::routes())
        .merge(exchanges::routes())
        .merge(bindings::routes())
        .merge(access::routes())
        .merge(limits::routes())
        .merge(definitions::routes())
        .merge(policies::routes())
        .merge(diagnostics::routes())
        .merge(control::routes())
        .merge(recordings::routes())
        .merge(ui::routes())
        .fallback(|| async { error::ApiError::not_found() })
        .with_state(api)
}

/// Serves the management API on `listener` until `shutdown` turns true. `rates` must be
/// sampled meanwhile ([`rates::sample_until`]), once however many listeners read them.
pub async fn serve(
    listener: TcpListener,
    core: Arc<Core>,
    listeners: Vec<ListenerInfo>,
    rates: Arc<rates::Rates>,
    mut shutdown: watch::Receiver<bool>,
) {
    let api = Api {
        core,
        rates,
        listeners: Arc::new(listeners),
        started: std::time::Instant::now(),
    };
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("management API on http://{addr}/api/");
    }
    // Before routing, so /api/connections/ finds the route of /api/connections.
    let app = tower_http::normalize_path::NormalizePath::trim_trailing_slash(router(api));
    let app = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
        SocketAddr,
    >(app);
    let stop = async move {
        let _ = shutdown.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!("management API stopped: {e}");
    }
}
