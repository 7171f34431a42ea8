//! /api/connections, /api/channels and /api/consumers: who is connected and what they are
//! doing, and closing a connection from outside (DELETE, with RabbitMQ's X-Reason header).
//! A connection's live state is asked of its own task when the list is read.

use super::auth::Auth;
use super::error::{ApiError, ApiResult};
use super::query::ListQuery;
use super::rates::{CHANNEL_FIELDS, Key, channel_values};
use super::{Api, node_name, with_rates};
use crate::broker::connection_info::{ChannelStats, ConnectionInfo, ConnectionStats};
use crate::broker::json::table_json;
use crate::broker::queue::Queue;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub fn routes() -> Router<Api> {
    Router::new()
        .merge(lists("connections", connections_json))
        .merge(lists("channels", channels_json))
        .route(
            "/api/connections/{name}",
            get(show_connection).delete(close_connection),
        )
        .route("/api/connections/{name}/channels", get(connection_channels))
        .route(
            "/api/connections/username/{user}",
            get(user_connections).delete(close_user_connections),
        )
        .route("/api/channels/{name}", get(show_channel))
        .route("/api/consumers", get(list_consumers))
        .route("/api/consumers/{vhost}", get(vhost_consumers))
}

/// A connection the user may see, with its state now (None if it did not answer).
type Described = (Arc<ConnectionInfo>, Option<ConnectionStats>);

/// GET /api/KIND and /api/vhosts/{vhost}/KIND, drawn from the described connections.
fn lists(kind: &str, render: fn(&Api, &[Described]) -> Vec<Value>) -> Router<Api> {
    Router::new()
        .route(
            &format!("/api/{kind}"),
            get(
                move |State(api): State<Api>, auth: Auth, Query(q): Query<ListQuery>| async move {
                    let list = described(&api, &auth, |_| true).await;
                    ApiResult::Ok(Json(q.apply(render(&api, &list))?))
                },
            ),
        )
        .route(
            &format!("/api/vhosts/{{vhost}}/{kind}"),
            get(
                move |State(api): State<Api>,
                      auth: Auth,
                      Path(vhost): Path<String>,
                      Query(q): Query<ListQuery>| async move {
                    auth.require_vhost(&api, &vhost)?;
                    let list = described(&api, &auth, |c| c.vhost == vhost).await;
                    ApiResult::Ok(Json(q.apply(render(&api, &list))?))
                },
            ),
        )
}

/// The connections the user may see, each with its state now (None if it did not answer).
async fn described(
    api: &Api,
    auth: &Auth,
    keep: impl Fn(&ConnectionInfo) -> bool,
) -> Vec<Described> {
    let mut infos: Vec<Arc<ConnectionInfo>> = api
        .core
        .connections()
        .into_iter()
        .filter(|c| auth.sees_user(&c.user) && auth.sees_vhost(api, &c.vhost) && keep(c))
        .collect();
    infos.sort_by_key(|c| c.id);
    let mut set = tokio::task::JoinSet::new();
    for (i, info) in infos.iter().enumerate() {
        let core = api.core.clone();
        let id = info.id;
        set.spawn(async move { (i, core.describe_connection(id).await) });
    }
    let mut stats: Vec<Option<ConnectionStats>> = vec![None; infos.len()];
    while let Some(done) = set.join_next().await {
        if let Ok((i, s)) = done {
            stats[i] = s;
        }
    }
    infos.into_iter().zip(stats).collect()
}

fn connection_json(api: &Api, c: &ConnectionInfo, s: Option<&ConnectionStats>) -> Value {
    let default = ConnectionStats::default();
    let s = s.unwrap_or(&default);
    let rates = api.rates.rates(&Key::Connection(c.id), 4);
    let mut o = json!({
        "auth_mechanism": c.auth_mechanism,
        "channel_max": c.channel_max,
        "channels": s.channels.len(),
        "client_properties": table_json(&c.client_properties),
        "connected_at": c.connected_at,
        "frame_max": c.frame_max,
        "host": c.local.ip().to_string(),
        "name": c.name,
        "node": node_name(),
        "peer_cert_issuer": null,
        "peer_cert_subject": null,
        "peer_cert_validity": null,
        "peer_host": c.peer.ip().to_string(),
        "peer_port": c.peer.port(),
        "port": c.local.port(),
        "protocol": "AMQP 0-9-1",
        "recv_cnt": s.recv_cnt,
        "recv_oct": s.recv_oct,
        "recv_oct_details": {"rate": rates[0]},
        "send_cnt": s.send_cnt,
        "send_oct": s.send_oct,
        "send_oct_details": {"rate": rates[1]},
        "send_pend": 0,
        "ssl": c.tls,
        "ssl_cipher": null,
        "ssl_hash": null,
        "ssl_key_exchange": null,
        "ssl_protocol": null,
        "state": if s.blocked { "blocked" } else { "running" },
        "timeout": c.heartbeat,
        "type": "network",
        "user": c.user,
        "user_who_performed_action": c.user,
        "vhost": c.vhost,
    });
    if let (Some(name), Value::Object(m)) = (c.user_provided_name(), &mut o) {
        m.insert("user_provided_name".into(), json!(name));
    }
    o
}

pub fn channel_name(c: &ConnectionInfo, number: u16) -> String {
    format!("{} ({number})", c.name)
}

fn channel_json(api: &Api, c: &ConnectionInfo, ch: &ChannelStats) -> Value {
    let mut stats = Map::new();
    let rates = api
        .rates
        .rates(&Key::Channel(c.id, ch.number), CHANNEL_FIELDS.len());
    with_rates(
        &mut stats,
        &CHANNEL_FIELDS,
        &channel_values(&ch.counters),
        &rates,
    );
    json!({
        "acks_uncommitted": ch.acks_uncommitted,
        "confirm": ch.confirm,
        "connection_details": {"name": c.name, "peer_host": c.peer.ip().to_string(), "peer_port": c.peer.port()},
        "consumer_count": ch.consumer_count,
        "global_prefetch_count": ch.global_prefetch_count,
        "message_stats": stats,
        "messages_unacknowledged": ch.messages_unacknowledged,
        "messages_uncommitted": ch.messages_uncommitted,
        "messages_unconfirmed": ch.messages_unconfirmed,
        "name": channel_name(c, ch.number),
        "node": node_name(),
        "number": ch.number,
        "pending_raft_commands": 0,
        "prefetch_count": ch.prefetch_count,
        "state": "running",
        "transactional": ch.transactional,
        "user": c.user,
        "user_who_performed_action": c.user,
        "vhost": c.vhost,
    })
}

fn connections_json(api: &Api, list: &[Described]) -> Vec<Value> {
    list.iter()
        .map(|(c, s)| connection_json(api, c, s.as_ref()))
        .collect()
}

fn channels_json(api: &Api, list: &[Described]) -> Vec<Value> {
    let mut out = Vec::new();
    for (c, s) in list {
        if let Some(s) = s {
            let mut chans: Vec<&ChannelStats> = s.channels.iter().collect();
            chans.sort_by_key(|ch| ch.number);
            out.extend(chans.into_iter().map(|ch| channel_json(api, c, ch)));
        }
    }
    out
}

async fn user_connections(
    State(api): State<Api>,
    auth: Auth,
    Path(user): Path<String>,
) -> ApiResult<Json<Value>> {
    let list = described(&api, &auth, |c| c.user == user).await;
    Ok(Json(Value::Array(connections_json(&api, &list))))
}

/// RabbitMQ's text for a connection closed through the API, from the X-Reason header.
fn reason(headers: &HeaderMap) -> String {
    headers
        .get("x-reason")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| "Closed via management plugin".into())
}

async fn close_user_connections(
    State(api): State<Api>,
    auth: Auth,
    Path(user): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    if !auth.is_admin() && auth.user != user {
        return Err(ApiError::not_authorised("Not administrator user"));
    }
    let why = reason(&headers);
    for c in api.core.connections().iter().filter(|c| c.user == user) {
        api.core.close_connection(c.id, &why).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn show_connection(
    State(api): State<Api>,
    auth: Auth,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let list = described(&api, &auth, |c| c.name == name).await;
    let (c, s) = list.first().ok_or_else(ApiError::not_found)?;
    Ok(Json(connection_json(&api, c, s.as_ref())))
}

async fn close_connection(
    State(api): State<Api>,
    auth: Auth,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let c = api
        .core
        .connections()
        .into_iter()
        .find(|c| c.name == name)
        .ok_or_else(ApiError::not_found)?;
    if !auth.is_admin() && auth.user != c.user {
        return Err(ApiError::not_authorised("Not administrator user"));
    }
    let why = reason(&headers);
    tracing::info!(connection = %c.name, user = %auth.user, "closing connection via the management API: {why}");
    api.core.close_connection(c.id, &why).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn connection_channels(
    State(api): State<Api>,
    auth: Auth,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let list = described(&api, &auth, |c| c.name == name).await;
    if list.is_empty() {
        return Err(ApiError::not_found());
    }
    Ok(Json(Value::Array(channels_json(&api, &list))))
}

async fn show_channel(
    State(api): State<Api>,
    auth: Auth,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let list = described(&api, &auth, |c| name.starts_with(&c.name)).await;
    channels_json(&api, &list)
        .into_iter()
        .find(|ch| ch["name"] == name.as_str())
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

/// A queue's consumers as /api/consumers shows them.
pub fn consumers_of(api: &Api, q: &Queue) -> Vec<Value> {
    let info = q.info();
    let conns: std::collections::HashMap<u64, Arc<ConnectionInfo>> = api
        .core
        .connections()
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let single_active = info.single_active_consumer;
    info.consumers
        .iter()
        .map(|c| {
            let conn = conns.get(&c.connection);
            let mut args = Map::new();
            if c.priority != 0 {
                args.insert("x-priority".into(), json!(c.priority));
            }
            let status = match (single_active, c.active) {
                (false, _) => "up",
                (true, true) => "single_active",
                (true, false) => "waiting",
            };
            json!({
                "arguments": args,
                "ack_required": c.ack_required,
                "active": c.active,
                "activity_status": status,
                "channel_details": conn.map(|conn| json!({
                    "connection_name": conn.name,
                    "name": channel_name(conn, c.channel),
                    "node": node_name(),
                    "number": c.channel,
                    "peer_host": conn.peer.ip().to_string(),
                    "peer_port": conn.peer.port(),
                    "user": conn.user,
                })).unwrap_or_else(|| json!({})),
                "consumer_tag": &*c.tag,
                // RabbitMQ's default delivery acknowledgement timeout (30 min), which 4.x
                // reports per consumer.
                "consumer_timeout": 1_800_000,
                "exclusive": c.exclusive,
                "prefetch_count": c.prefetch_count,
                "queue": {"name": &*q.name, "vhost": &*q.vhost},
            })
        })
        .collect()
}

fn consumers_json(api: &Api, auth: &Auth, only: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    for v in auth.vhosts(api, only) {
        let mut queues = v.queues();
        queues.sort_by(|a, b| a.name.cmp(&b.name));
        for q in queues {
            out.extend(consumers_of(api, &q));
        }
    }
    out
}

async fn list_consumers(
    State(api): State<Api>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(q.apply(consumers_json(&api, &auth, None))?))
}

async fn vhost_consumers(
    State(api): State<Api>,
    auth: Auth,
    Path(vhost): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    auth.require_vhost(&api, &vhost)?;
    Ok(Json(q.apply(consumers_json(&api, &auth, Some(&vhost)))?))
}
