//! `/api/warren/`: the test-broker control API (`crate::testing`), so test suites in any
//! language can reset the broker, read its state, wait on it and inject faults with a few
//! lines of HTTP. Administrators only: every route changes or exposes the whole broker.
//!
//! - `POST /api/warren/reset` — back to the state at start (204).
//! - `GET /api/warren/snapshot` — queues, depths, consumers, bindings, connections.
//! - `POST /api/warren/wait` — `{"queue": "q", "messages_ready": 3, "timeout_ms": 5000}`
//!   (also `vhost`, `messages_unacknowledged`, `messages`, `consumers`, `connections`):
//!   the snapshot once every condition holds (200), or the last one with 408 at the timeout.
//! - `POST /api/warren/isolated-vhosts` — a fresh vhost and a user limited to it (201).
//! - `POST /api/warren/faults` — a fault plan (`testing::faults::FaultPlan` as JSON; 201
//!   with its id); `GET` lists the plans waiting; `DELETE` clears every plan and fault.
//! - `PUT /api/warren/alarms/{disk|memory}` — `{"raised": true}` simulates the alarm.
//! - `POST /api/warren/crash` — drops every connection and recovers the data as after a
//!   kill -9 (204).

use super::Api;
use super::auth::Auth;
use super::body::json_body_explained;
use super::error::{ApiError, ApiResult};
use crate::broker::alarm::Resource;
use crate::testing::{FaultPlan, Snapshot};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The longest a wait may last, so a forgotten condition cannot hold a request forever.
const MAX_WAIT: Duration = Duration::from_secs(300);

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/warren/reset", post(reset))
        .route("/api/warren/snapshot", get(snapshot))
        .route("/api/warren/wait", post(wait))
        .route("/api/warren/isolated-vhosts", post(isolated_vhost))
        .route(
            "/api/warren/faults",
            get(list_faults).post(inject_fault).delete(clear_faults),
        )
        .route("/api/warren/alarms/{resource}", put(alarm))
        .route("/api/warren/crash", post(crash))
}

async fn reset(State(api): State<Api>, auth: Auth) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    api.core.reset();
    Ok(StatusCode::NO_CONTENT)
}

async fn snapshot(State(api): State<Api>, auth: Auth) -> ApiResult<Json<Snapshot>> {
    auth.require_admin()?;
    Ok(Json(api.core.snapshot()))
}

/// What `POST /api/warren/wait` waits for: every condition given holds at once.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Condition {
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    vhost: Option<String>,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    messages_ready: Option<u64>,
    #[serde(default)]
    messages_unacknowledged: Option<u64>,
    #[serde(default)]
    messages: Option<u64>,
    #[serde(default)]
    consumers: Option<u64>,
    #[serde(default)]
    connections: Option<u64>,
}

impl Condition {
    fn holds(&self, s: &Snapshot) -> bool {
        if self
            .connections
            .is_some_and(|n| s.connections.len() as u64 != n)
        {
            return false;
        }
        let Some(queue) = &self.queue else {
            return true;
        };
        let Some(q) = s.queue_in(self.vhost.as_deref().unwrap_or("/"), queue) else {
            return false;
        };
        self.messages_ready.is_none_or(|n| q.messages_ready == n)
            && self
                .messages_unacknowledged
                .is_none_or(|n| q.messages_unacknowledged == n)
            && self.messages.is_none_or(|n| q.messages == n)
            && self.consumers.is_none_or(|n| q.consumers.len() as u64 == n)
    }
}

async fn wait(
    State(api): State<Api>,
    auth: Auth,
    bytes: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    auth.require_admin()?;
    let cond: Condition = json_body_explained(&bytes)?;
    let timeout = Duration::from_millis(cond.timeout_ms.unwrap_or(5000)).min(MAX_WAIT);
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        let s = api.core.snapshot();
        if cond.holds(&s) {
            return Ok((StatusCode::OK, Json(json!(s))));
        }
        if Instant::now() >= deadline {
            return Ok((
                StatusCode::REQUEST_TIMEOUT,
                Json(json!({
                    "error": "timeout",
                    "reason": format!("the condition did not hold within {} ms", timeout.as_millis()),
                    "snapshot": s,
                })),
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

async fn isolated_vhost(
    State(api): State<Api>,
    auth: Auth,
) -> ApiResult<(StatusCode, Json<Value>)> {
    auth.require_admin()?;
    let iso = api
        .core
        .isolated_vhost()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let amqp = api.listeners.iter().find(|l| l.protocol == "amqp");
    let mut out = json!(iso);
    if let Some(l) = amqp {
        out["url"] = json!(iso.url(l.addr));
    }
    Ok((StatusCode::CREATED, Json(out)))
}

async fn inject_fault(
    State(api): State<Api>,
    auth: Auth,
    bytes: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    auth.require_admin()?;
    let plan: FaultPlan = json_body_explained(&bytes)?;
    if plan.steps.is_empty() {
        return Err(ApiError::bad_request(
            "a fault plan needs at least one step",
        ));
    }
    let core = api.core.clone();
    let id = tokio::task::spawn_blocking(move || core.inject_fault(plan))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

async fn list_faults(State(api): State<Api>, auth: Auth) -> ApiResult<Json<Value>> {
    auth.require_admin()?;
    Ok(Json(json!(api.core.fault_plans())))
}

async fn clear_faults(State(api): State<Api>, auth: Auth) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let core = api.core.clone();
    tokio::task::spawn_blocking(move || core.clear_faults())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct AlarmBody {
    raised: bool,
}

async fn alarm(
    State(api): State<Api>,
    auth: Auth,
    Path(resource): Path<String>,
    bytes: Bytes,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let resource = match resource.as_str() {
        "disk" => Resource::Disk,
        "memory" => Resource::Memory,
        _ => return Err(ApiError::not_found()),
    };
    let AlarmBody { raised } = json_body_explained(&bytes)?;
    api.core.simulate_alarm(resource, raised);
    Ok(StatusCode::NO_CONTENT)
}

async fn crash(State(api): State<Api>, auth: Auth) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let core = api.core.clone();
    tokio::task::spawn_blocking(move || core.crash_and_recover())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}
