//! /api/bindings: list, create and delete bindings between exchanges and queues or other
//! exchanges. A binding is named in paths by its `properties_key`: the routing key alone
//! (`~` for an empty one) when it has no arguments, else the key, `~` and a digest of the
//! arguments, as RabbitMQ names them.

use super::Api;
use super::auth::Auth;
use super::body::json_body;
use super::error::{ApiError, ApiResult};
use super::exchanges::exchange_name;
use super::query::ListQuery;
use crate::broker::access::{Access, ResourceKind};
use crate::broker::exchange::{Binding, Destination};
use crate::broker::json::{table, table_json};
use crate::broker::{BrokerError, VHost};
use crate::protocol::FieldTable;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::Digest;
use std::sync::Arc;

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/bindings", get(list_all))
        .route("/api/bindings/{vhost}", get(list_vhost))
        .route(
            "/api/bindings/{vhost}/e/{source}/{kind}/{destination}",
            get(between).post(create),
        )
        .route(
            "/api/bindings/{vhost}/e/{source}/{kind}/{destination}/{props}",
            get(show).delete(delete),
        )
}

/// RabbitMQ's name for a binding within its source and destination.
pub fn properties_key(routing_key: &str, args: &FieldTable) -> String {
    if args.iter().next().is_none() {
        return if routing_key.is_empty() {
            "~".into()
        } else {
            routing_key.to_owned()
        };
    }
    let digest = sha2::Sha256::digest(table_json(args).to_string().as_bytes());
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..12]);
    format!("{routing_key}~{hash}")
}

fn binding_json(vhost: &str, source: &str, b: &Binding) -> Value {
    let (destination, kind) = match &b.destination {
        Destination::Queue(q) => (q, "queue"),
        Destination::Exchange(x) => (x, "exchange"),
    };
    json!({
        "source": source,
        "vhost": vhost,
        "destination": &**destination,
        "destination_type": kind,
        "routing_key": b.routing_key,
        "arguments": table_json(&b.arguments),
        "properties_key": properties_key(&b.routing_key, &b.arguments),
    })
}

/// Every binding of a vhost: the default exchange's implicit one to each queue first, then
/// the others by source, destination and key.
pub fn of_vhost(v: &VHost) -> Vec<Value> {
    let mut queues: Vec<Arc<str>> = v.queues().iter().map(|q| q.name.clone()).collect();
    queues.sort();
    let mut out: Vec<Value> = queues
        .iter()
        .map(|q| {
            let b = Binding {
                destination: Destination::Queue(q.clone()),
                routing_key: q.to_string(),
                arguments: FieldTable::new(),
            };
            binding_json(&v.name, "", &b)
        })
        .collect();
    let mut exchanges = v.exchanges();
    exchanges.retain(|x| !x.name.is_empty());
    exchanges.sort_by(|a, b| a.name.cmp(&b.name));
    for x in exchanges {
        let mut bindings = x.bindings();
        bindings.sort_by(|a, b| {
            (&a.destination, &a.routing_key).cmp(&(&b.destination, &b.routing_key))
        });
        out.extend(bindings.iter().map(|b| binding_json(&v.name, &x.name, b)));
    }
    out
}

async fn list_all(
    State(api): State<Api>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let out = auth
        .vhosts(&api, None)
        .iter()
        .flat_map(|v| of_vhost(v))
        .collect();
    Ok(Json(q.apply(out)?))
}

async fn list_vhost(
    State(api): State<Api>,
    auth: Auth,
    Path(vhost): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    auth.require_vhost(&api, &vhost)?;
    let v = api.core.vhost(&vhost).ok_or_else(ApiError::not_found)?;
    Ok(Json(q.apply(of_vhost(&v))?))
}

/// The destination of a path's `q/NAME` or `e/NAME`.
fn destination(kind: &str, name: &str) -> Result<Destination, ApiError> {
    match kind {
        "q" => Ok(Destination::Queue(name.into())),
        "e" => Ok(Destination::Exchange(name.into())),
        _ => Err(ApiError::not_found()),
    }
}

/// The bindings from `source` to the destination, checking that both exist.
fn matching(
    api: &Api,
    vhost: &str,
    source: &str,
    dest: &Destination,
) -> Result<Vec<Value>, ApiError> {
    let v = api.core.vhost(vhost).ok_or_else(ApiError::not_found)?;
    v.exchange(source)?;
    let (kind, name) = match dest {
        Destination::Queue(q) => {
            v.queue(q, 0).map_err(|_| ApiError::not_found())?;
            ("queue", q)
        }
        Destination::Exchange(x) => {
            v.exchange(x)?;
            ("exchange", x)
        }
    };
    Ok(of_vhost(&v)
        .into_iter()
        .filter(|b| {
            b["source"] == source && b["destination_type"] == kind && b["destination"] == **name
        })
        .collect())
}

async fn between(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, source, kind, name)): Path<(String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    auth.require_vhost(&api, &vhost)?;
    let dest = destination(&kind, &name)?;
    Ok(Json(Value::Array(matching(
        &api,
        &vhost,
        exchange_name(&source),
        &dest,
    )?)))
}

#[derive(Debug, Default, Deserialize)]
struct BindBody {
    #[serde(default)]
    routing_key: String,
    #[serde(default)]
    arguments: Map<String, Value>,
}

/// Checks what binding and unbinding need: write on the destination, read on the source.
fn check_bind(
    api: &Api,
    auth: &Auth,
    vhost: &str,
    source: &str,
    dest: &Destination,
) -> ApiResult<()> {
    let (kind, name) = match dest {
        Destination::Queue(q) => (ResourceKind::Queue, q),
        Destination::Exchange(x) => (ResourceKind::Exchange, x),
    };
    auth.check(api, vhost, Access::Write, kind, name)?;
    auth.check(api, vhost, Access::Read, ResourceKind::Exchange, source)
}

async fn create(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, source, kind, name)): Path<(String, String, String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    auth.require_vhost(&api, &vhost)?;
    let dest = destination(&kind, &name)?;
    let b: BindBody = json_body(&body)?;
    let v = api.core.vhost(&vhost).ok_or_else(ApiError::not_found)?;
    check_bind(&api, &auth, &vhost, &source, &dest)?;
    let args = table(&b.arguments);
    let key = properties_key(&b.routing_key, &args);
    // A missing end is a 404 that names it, as RabbitMQ answers here.
    v.change_binding(true, &source, dest, b.routing_key, args, 0)
        .map_err(|e| match e {
            BrokerError::NotFound { .. } => ApiError::missing(e.to_string()),
            e => e.into(),
        })?;
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&key) {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::CREATED, headers).into_response())
}

/// The binding a path's properties key names.
fn find(
    api: &Api,
    vhost: &str,
    source: &str,
    dest: &Destination,
    props: &str,
) -> Result<Value, ApiError> {
    matching(api, vhost, source, dest)?
        .into_iter()
        .find(|b| b["properties_key"] == props)
        .ok_or_else(ApiError::not_found)
}

async fn show(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, source, kind, name, props)): Path<(String, String, String, String, String)>,
) -> ApiResult<Json<Value>> {
    auth.require_vhost(&api, &vhost)?;
    let dest = destination(&kind, &name)?;
    Ok(Json(find(
        &api,
        &vhost,
        exchange_name(&source),
        &dest,
        &props,
    )?))
}

async fn delete(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, source, kind, name, props)): Path<(String, String, String, String, String)>,
) -> ApiResult<StatusCode> {
    auth.require_vhost(&api, &vhost)?;
    let dest = destination(&kind, &name)?;
    let b = find(&api, &vhost, &source, &dest, &props)?;
    check_bind(&api, &auth, &vhost, &source, &dest)?;
    let v = api.core.vhost(&vhost).ok_or_else(ApiError::not_found)?;
    let key = b["routing_key"].as_str().unwrap_or("").to_owned();
    let args = match &b["arguments"] {
        Value::Object(o) => table(o),
        _ => FieldTable::new(),
    };
    v.change_binding(false, &source, dest, key, args, 0)?;
    Ok(StatusCode::NO_CONTENT)
}
