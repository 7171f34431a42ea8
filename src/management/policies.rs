//! /api/policies and /api/operator-policies: list, show, set and clear, through the
//! broker's policy store (which applies a change to existing queues and exchanges at once).

use super::Api;
use super::auth::Auth;
use super::error::{ApiError, ApiResult};
use super::exchanges::json_body;
use crate::broker::policy::{Policy, PolicyError, PolicyKind};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value};

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/policies", get(list_policies))
        .route("/api/policies/{vhost}", get(vhost_policies))
        .route(
            "/api/policies/{vhost}/{name}",
            get(show_policy).put(put_policy).delete(delete_policy),
        )
        .route("/api/operator-policies", get(list_operator))
        .route("/api/operator-policies/{vhost}", get(vhost_operator))
        .route(
            "/api/operator-policies/{vhost}/{name}",
            get(show_operator).put(put_operator).delete(delete_operator),
        )
}

impl From<PolicyError> for ApiError {
    fn from(e: PolicyError) -> ApiError {
        match e {
            PolicyError::NoVhost(_) => ApiError::not_found(),
            e => ApiError::bad_request(e.reason()),
        }
    }
}

fn list(api: &Api, auth: &Auth, kind: PolicyKind, vhost: Option<&str>) -> Vec<Value> {
    let policies = match kind {
        PolicyKind::Policy => api.core.policies(vhost),
        PolicyKind::Operator => api.core.operator_policies(vhost),
    };
    policies
        .iter()
        .filter(|p| auth.sees_vhost(api, &p.vhost))
        .filter_map(|p| serde_json::to_value(p).ok())
        .collect()
}

/// Operator policies are an administrator's; policies a policymaker's too.
fn require(auth: &Auth, kind: PolicyKind) -> ApiResult<()> {
    match kind {
        PolicyKind::Operator => auth.require_admin(),
        PolicyKind::Policy => auth.require_policymaker(),
    }
}

fn show(
    api: &Api,
    auth: &Auth,
    kind: PolicyKind,
    vhost: &str,
    name: &str,
) -> ApiResult<Json<Value>> {
    auth.require_vhost(api, vhost)?;
    list(api, auth, kind, Some(vhost))
        .into_iter()
        .find(|p| p["name"] == name)
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

fn put(
    api: &Api,
    auth: &Auth,
    kind: PolicyKind,
    vhost: &str,
    name: &str,
    body: &[u8],
) -> ApiResult<StatusCode> {
    require(auth, kind)?;
    auth.require_vhost(api, vhost)?;
    let form: Map<String, Value> = json_body(body)?;
    let existed = list(api, auth, kind, Some(vhost))
        .iter()
        .any(|p| p["name"] == name);
    let policy = Policy::from_body(vhost, name, &form)?;
    match kind {
        PolicyKind::Policy => api.core.set_policy(vhost, policy)?,
        PolicyKind::Operator => api.core.set_operator_policy(vhost, policy)?,
    }
    Ok(if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

fn delete(
    api: &Api,
    auth: &Auth,
    kind: PolicyKind,
    vhost: &str,
    name: &str,
) -> ApiResult<StatusCode> {
    require(auth, kind)?;
    auth.require_vhost(api, vhost)?;
    let cleared = match kind {
        PolicyKind::Policy => api.core.clear_policy(vhost, name),
        PolicyKind::Operator => api.core.clear_operator_policy(vhost, name),
    };
    if cleared {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}

async fn list_policies(State(api): State<Api>, auth: Auth) -> Json<Value> {
    Json(Value::Array(list(&api, &auth, PolicyKind::Policy, None)))
}

async fn vhost_policies(
    State(api): State<Api>,
    auth: Auth,
    Path(vhost): Path<String>,
) -> ApiResult<Json<Value>> {
    auth.require_vhost(&api, &vhost)?;
    Ok(Json(Value::Array(list(
        &api,
        &auth,
        PolicyKind::Policy,
        Some(&vhost),
    ))))
}

async fn show_policy(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    show(&api, &auth, PolicyKind::Policy, &vhost, &name)
}

async fn put_policy(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    put(&api, &auth, PolicyKind::Policy, &vhost, &name, &body)
}

async fn delete_policy(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    delete(&api, &auth, PolicyKind::Policy, &vhost, &name)
}

async fn list_operator(State(api): State<Api>, auth: Auth) -> ApiResult<Json<Value>> {
    auth.require_monitor()?;
    Ok(Json(Value::Array(list(
        &api,
        &auth,
        PolicyKind::Operator,
        None,
    ))))
}

async fn vhost_operator(
    State(api): State<Api>,
    auth: Auth,
    Path(vhost): Path<String>,
) -> ApiResult<Json<Value>> {
    auth.require_vhost(&api, &vhost)?;
    Ok(Json(Value::Array(list(
        &api,
        &auth,
        PolicyKind::Operator,
        Some(&vhost),
    ))))
}

async fn show_operator(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    show(&api, &auth, PolicyKind::Operator, &vhost, &name)
}

async fn put_operator(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    put(&api, &auth, PolicyKind::Operator, &vhost, &name, &body)
}

async fn delete_operator(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    delete(&api, &auth, PolicyKind::Operator, &vhost, &name)
}
