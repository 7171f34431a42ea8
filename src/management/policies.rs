//! /api/policies and /api/operator-policies: list, show, set and clear, through the
//! broker's policy store (which applies a change to existing queues and exchanges at once).

use super::Api;
use super::auth::Auth;
use super::body::{created, deleted, json_body};
use super::error::{ApiError, ApiResult};
use crate::broker::policy::{Policy, PolicyError, PolicyKind};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value};

pub fn routes() -> Router<Api> {
    Router::new()
        .merge(routes_of(PolicyKind::Policy, "/api/policies"))
        .merge(routes_of(PolicyKind::Operator, "/api/operator-policies"))
}

/// The same four routes for policies and operator policies, told apart by `kind`.
fn routes_of(kind: PolicyKind, base: &str) -> Router<Api> {
    type Named = Path<(String, String)>;
    Router::new()
        .route(
            base,
            get(move |State(api): State<Api>, auth: Auth| async move {
                if kind == PolicyKind::Operator {
                    auth.require_monitor()?;
                }
                ApiResult::Ok(Json(Value::Array(list(&api, &auth, kind, None))))
            }),
        )
        .route(
            &format!("{base}/{{vhost}}"),
            get(
                move |State(api): State<Api>, auth: Auth, Path(vhost): Path<String>| async move {
                    auth.require_vhost(&api, &vhost)?;
                    ApiResult::Ok(Json(Value::Array(list(&api, &auth, kind, Some(&vhost)))))
                },
            ),
        )
        .route(
            &format!("{base}/{{vhost}}/{{name}}"),
            get(
                move |State(api): State<Api>, auth: Auth, Path((vhost, name)): Named| async move {
                    show(&api, &auth, kind, &vhost, &name)
                },
            )
            .put(
                move |State(api): State<Api>,
                      auth: Auth,
                      Path((vhost, name)): Named,
                      body: axum::body::Bytes| async move {
                    put(&api, &auth, kind, &vhost, &name, &body)
                },
            )
            .delete(
                move |State(api): State<Api>, auth: Auth, Path((vhost, name)): Named| async move {
                    delete(&api, &auth, kind, &vhost, &name)
                },
            ),
        )
}

impl From<PolicyError> for ApiError {
    fn from(e: PolicyError) -> ApiError {
        match e {
            PolicyError::NoVhost(_) => ApiError::missing("vhost_not_found"),
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
    Ok(created(existed))
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
    deleted(cleared)
}
