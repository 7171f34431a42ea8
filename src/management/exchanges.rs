//! /api/exchanges: list, declare, delete, and publish through an exchange.

use super::auth::Auth;
use super::body::{DeleteQuery, created, json_body};
use super::error::{ApiError, ApiResult};
use super::messages::{api_message, payload};
use super::query::ListQuery;
use super::{Api, bindings};
use crate::broker::access::{Access, ResourceKind};
use crate::broker::exchange::Exchange;
use crate::broker::json::{table, table_json};
use crate::broker::vhost::ExchangeDeclare;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/exchanges", get(list_all))
        .route("/api/exchanges/{vhost}", get(list_vhost))
        .route(
            "/api/exchanges/{vhost}/{name}",
            get(show).put(declare).delete(delete),
        )
        .route("/api/exchanges/{vhost}/{name}/publish", post(publish))
        .route(
            "/api/exchanges/{vhost}/{name}/bindings/source",
            get(bindings_source),
        )
        .route(
            "/api/exchanges/{vhost}/{name}/bindings/destination",
            get(bindings_destination),
        )
}

/// "amq.default" names the default exchange in the API's paths.
pub fn exchange_name(path_name: &str) -> &str {
    if path_name == "amq.default" {
        ""
    } else {
        path_name
    }
}

pub fn exchange_json(vhost: &str, x: &Exchange) -> Value {
    let policy = x.policy_status();
    json!({
        "policy": policy.policy,
        "operator_policy": policy.operator_policy,
        "effective_policy_definition": policy.effective_policy_definition,
        "arguments": table_json(&x.settings.arguments),
        "auto_delete": x.settings.auto_delete,
        "durable": x.settings.durable,
        "internal": x.settings.internal,
        "name": x.name,
        "type": x.settings.kind.as_str(),
        "user_who_performed_action": "rmq-internal",
        "vhost": vhost,
    })
}

fn sorted(mut list: Vec<(String, Arc<Exchange>)>) -> Vec<Value> {
    list.sort_by(|a, b| (&a.0, &a.1.name).cmp(&(&b.0, &b.1.name)));
    list.iter().map(|(v, x)| exchange_json(v, x)).collect()
}

fn visible(api: &Api, auth: &Auth, only: Option<&str>) -> Vec<(String, Arc<Exchange>)> {
    auth.vhosts(api, only)
        .into_iter()
        .flat_map(|v| v.exchanges().into_iter().map(move |x| (v.name.clone(), x)))
        .collect()
}

async fn list_all(
    State(api): State<Api>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(q.apply(sorted(visible(&api, &auth, None)))?))
}

async fn list_vhost(
    State(api): State<Api>,
    auth: Auth,
    Path(vhost): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    auth.require_vhost(&api, &vhost)?;
    Ok(Json(q.apply(sorted(visible(&api, &auth, Some(&vhost))))?))
}

async fn show(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    auth.require_vhost(&api, &vhost)?;
    let v = api.core.vhost(&vhost).ok_or_else(ApiError::not_found)?;
    let x = v.exchange(exchange_name(&name))?;
    let mut o = exchange_json(&vhost, &x);
    // Per-exchange message flows, which Warren does not count (README, Deviations).
    if let Value::Object(m) = &mut o {
        m.insert("incoming".into(), json!([]));
        m.insert("outgoing".into(), json!([]));
    }
    Ok(Json(o))
}

#[derive(Debug, Deserialize)]
struct DeclareBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    durable: Option<bool>,
    #[serde(default)]
    auto_delete: bool,
    #[serde(default)]
    internal: bool,
    #[serde(default)]
    arguments: Map<String, Value>,
}

async fn declare(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    auth.require_vhost(&api, &vhost)?;
    let d: DeclareBody = json_body(&body)?;
    // RabbitMQ's API declares a direct exchange when no type is given.
    let kind = d.kind.unwrap_or_else(|| "direct".to_owned());
    auth.check(
        &api,
        &vhost,
        Access::Configure,
        ResourceKind::Exchange,
        &name,
    )?;
    let v = api.core.vhost(&vhost).ok_or_else(ApiError::not_found)?;
    let existed = v.exchange(&name).is_ok();
    v.declare_exchange(ExchangeDeclare {
        name,
        kind,
        passive: false,
        durable: d.durable.unwrap_or(false),
        auto_delete: d.auto_delete,
        internal: d.internal,
        arguments: table(&d.arguments),
    })?;
    Ok(created(existed))
}

async fn delete(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
    Query(dq): Query<DeleteQuery>,
) -> ApiResult<StatusCode> {
    auth.require_vhost(&api, &vhost)?;
    // The default and amq.* exchanges are the broker's: RabbitMQ's API refuses them before
    // looking further.
    if name == "amq.default" || name.starts_with("amq.") {
        return Err(ApiError::not_authorised("Access refused."));
    }
    let v = api.core.vhost(&vhost).ok_or_else(ApiError::not_found)?;
    v.exchange(&name)?;
    auth.check(
        &api,
        &vhost,
        Access::Configure,
        ResourceKind::Exchange,
        &name,
    )?;
    v.delete_exchange(&name, dq.if_unused())?;
    Ok(StatusCode::NO_CONTENT)
}

async fn publish(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    auth.require_vhost(&api, &vhost)?;
    let form: Map<String, Value> = json_body(&body)?;
    let body = payload(&form)?;
    let name = exchange_name(&name);
    let v = api.core.vhost(&vhost).ok_or_else(ApiError::not_found)?;
    let amqp = |e: crate::broker::BrokerError| {
        let e = crate::error::AmqpError::from(e);
        ApiError::bad_request(format!("{} {}", e.code, e.reply_text()))
    };
    let x = v.publishable(name).map_err(amqp)?;
    auth.check(&api, &vhost, Access::Write, ResourceKind::Exchange, name)?;
    let key = form
        .get("routing_key")
        .and_then(Value::as_str)
        .unwrap_or("");
    let props = match form.get("properties") {
        Some(Value::Object(p)) => p.clone(),
        _ => Map::new(),
    };
    let message = api_message(name, key, &props, body)?;
    let (queues, _) = v.route(&x, &message);
    let routed = !queues.is_empty();
    v.store_and_push(&queues, Arc::new(message), None, |_, _| {});
    for q in &queues {
        q.dispatch();
    }
    Ok(Json(json!({"routed": routed})))
}

async fn bindings_source(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    auth.require_vhost(&api, &vhost)?;
    let v = api.core.vhost(&vhost).ok_or_else(ApiError::not_found)?;
    let name = exchange_name(&name);
    v.exchange(name)?;
    let list = bindings::of_vhost(&v)
        .into_iter()
        .filter(|b| b["source"] == name)
        .collect();
    Ok(Json(Value::Array(list)))
}

async fn bindings_destination(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    auth.require_vhost(&api, &vhost)?;
    let v = api.core.vhost(&vhost).ok_or_else(ApiError::not_found)?;
    v.exchange(&name)?;
    let list = bindings::of_vhost(&v)
        .into_iter()
        .filter(|b| b["destination_type"] == "exchange" && b["destination"] == name.as_str())
        .collect();
    Ok(Json(Value::Array(list)))
}
