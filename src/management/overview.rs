//! The node as a whole: /api/overview, /api/whoami, /api/nodes, /api/extensions, the health
//! checks and the aliveness test.

use super::auth::Auth;
use super::error::{ApiError, ApiResult};
use super::rates::{CHANNEL_FIELDS, Key, channel_values};
use super::{Api, node_name, with_rates};
use crate::broker::vhost::QueueDeclare;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

/// The RabbitMQ release whose behaviour Warren follows, reported where clients look for a
/// RabbitMQ version.
pub use crate::broker::RABBITMQ_VERSION;

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/overview", get(overview))
        .route("/api/whoami", get(whoami))
        .route("/api/nodes", get(nodes))
        .route("/api/nodes/{node}", get(node))
        .route("/api/extensions", get(extensions))
        .route("/api/cluster-name", get(cluster_name))
        .route("/api/health/checks/alarms", get(alarms))
        .route("/api/health/checks/local-alarms", get(alarms))
        .route(
            "/api/health/checks/port-listener/{port}",
            get(port_listener),
        )
        .route(
            "/api/health/checks/protocol-listener/{protocol}",
            get(protocol_listener),
        )
        .route("/api/health/checks/{*rest}", get(always_ok))
        .route("/api/aliveness-test/{vhost}", get(aliveness))
        .route("/api/warren/overview-history", get(history))
}

/// The exchange types declare takes: the four of AMQP, and from RabbitMQ 4.0 on its local
/// random type, each with RabbitMQ's description.
fn exchange_types(api: &Api) -> Value {
    let t = |name: &str| json!({"name": name, "description": format!("AMQP {name} exchange, as per the AMQP specification"), "enabled": true});
    let mut types = vec![t("direct"), t("fanout"), t("headers"), t("topic")];
    if api.core.profile().has_local_random_exchange() {
        types.push(json!({"name": "x-local-random", "description": "Picks one random local binding (queue) to route via (to).", "enabled": true}));
    }
    Value::Array(types)
}

fn listeners_json(api: &Api) -> Value {
    let node = node_name();
    Value::Array(
        api.listeners
            .iter()
            .map(|l| {
                json!({"node": node, "protocol": l.protocol, "ip_address": l.addr.ip().to_string(),
                    "port": l.addr.port(), "socket_opts": {}})
            })
            .collect(),
    )
}

/// The alarms in effect, as RabbitMQ names them.
fn active_alarms(api: &Api) -> Vec<&'static str> {
    let status = api.core.node_status();
    let mut out = Vec::new();
    if status.disk_free_alarm {
        out.push("disk");
    }
    if status.mem_alarm {
        out.push("memory");
    }
    out
}

async fn overview(State(api): State<Api>, auth: Auth) -> ApiResult<Json<Value>> {
    let core = &api.core;
    let visible: Vec<String> = core
        .vhost_names()
        .into_iter()
        .filter(|v| auth.sees_vhost(&api, v))
        .collect();
    let (mut queues, mut exchanges, mut consumers) = (0u64, 0u64, 0u64);
    let (mut ready, mut unacked) = (0u64, 0u64);
    for v in visible.iter().filter_map(|v| core.vhost(v)) {
        exchanges += v.exchanges().len() as u64;
        for q in v.queues() {
            queues += 1;
            let i = q.info();
            consumers += i.consumers.len() as u64;
            ready += i.ready;
            unacked += i.counters.unacked;
        }
    }
    let conns: Vec<_> = core
        .connections()
        .into_iter()
        .filter(|c| auth.sees_user(&c.user))
        .collect();
    let channels: usize = conns
        .iter()
        .filter_map(|c| api.rates.connection(c.id))
        .map(|s| s.channels.len())
        .sum();
    let mut message_stats = Map::new();
    let (values, rates) = if auth.is_monitor() {
        (
            channel_values(&api.rates.totals("")),
            api.rates.rates(&Key::Overview, CHANNEL_FIELDS.len()),
        )
    } else {
        let mut sum = crate::broker::connection_info::ChannelCounters::default();
        for v in &visible {
            sum.add(&api.rates.totals(v));
        }
        (channel_values(&sum), vec![0.0; CHANNEL_FIELDS.len()])
    };
    with_rates(&mut message_stats, &CHANNEL_FIELDS, &values, &rates);
    let version = env!("CARGO_PKG_VERSION");
    Ok(Json(json!({
        "management_version": RABBITMQ_VERSION,
        "rates_mode": "basic",
        "sample_retention_policies": {"global": [600, 3600, 28800, 86400], "basic": [600, 3600], "detailed": [600]},
        "exchange_types": exchange_types(&api),
        "product_version": version,
        "product_name": "Warren",
        "rabbitmq_version": RABBITMQ_VERSION,
        "cluster_name": node_name(),
        "erlang_version": "none (Warren is written in Rust)",
        "erlang_full_version": "none (Warren is written in Rust)",
        "release_series_support_status": "supported",
        "disable_stats": false,
        "is_op_policy_updating_enabled": true,
        "enable_queue_totals": false,
        "message_stats": message_stats,
        "churn_rates": {},
        "queue_totals": {
            "messages": ready + unacked, "messages_details": {"rate": 0.0},
            "messages_ready": ready, "messages_ready_details": {"rate": 0.0},
            "messages_unacknowledged": unacked, "messages_unacknowledged_details": {"rate": 0.0},
        },
        "object_totals": {
            "channels": channels, "connections": conns.len(), "consumers": consumers,
            "exchanges": exchanges, "queues": queues,
        },
        "statistics_db_event_queue": 0,
        "node": node_name(),
        "listeners": listeners_json(&api),
        "contexts": [],
    })))
}

async fn whoami(auth: Auth) -> Json<Value> {
    Json(json!({"name": auth.user, "tags": auth.tags}))
}

fn node_json(api: &Api) -> Value {
    let status = api.core.node_status();
    let processors = std::thread::available_parallelism().map_or(1, |n| n.get());
    json!({
        "name": node_name(),
        "type": "disc",
        "running": true,
        "being_drained": false,
        "os_pid": std::process::id().to_string(),
        "uptime": api.started.elapsed().as_millis() as u64,
        "processors": processors,
        "run_queue": 0,
        // The broker's own account of message and buffer memory, which the memory alarm
        // watches; the process's RSS beside it.
        "mem_used": status.mem_used,
        "mem_used_details": {"rate": 0.0},
        "mem_limit": status.mem_limit,
        "mem_alarm": status.mem_alarm,
        "mem_rss": status.mem_rss.unwrap_or(0),
        "mem_calculation_strategy": "allocated",
        "disk_free": status.disk_free.unwrap_or(0),
        "disk_free_details": {"rate": 0.0},
        "disk_free_limit": status.disk_free_limit,
        "disk_free_alarm": status.disk_free_alarm,
        "fd_used": 0,
        "fd_total": 0,
        "sockets_used": api.core.connections().len(),
        "sockets_total": 0,
        "proc_used": 0,
        "proc_total": 0,
        "partitions": [],
        "rates_mode": "basic",
        "exchange_types": exchange_types(api),
        "auth_mechanisms": [
            {"name": "PLAIN", "description": "SASL PLAIN authentication mechanism", "enabled": true},
            {"name": "AMQPLAIN", "description": "QPid AMQPLAIN mechanism", "enabled": true},
            {"name": "EXTERNAL", "description": "SASL EXTERNAL authentication mechanism using client certificates", "enabled": false},
            {"name": "ANONYMOUS", "description": "SASL ANONYMOUS authentication mechanism", "enabled": api.core.anonymous_login().is_some()},
        ],
        "applications": [],
        "contexts": [],
        "enabled_plugins": ["rabbitmq_management"],
        "log_files": [],
        "config_files": [],
        "cluster_links": [],
        "net_ticktime": 60,
    })
}

async fn nodes(State(api): State<Api>, auth: Auth) -> ApiResult<Json<Value>> {
    auth.require_monitor()?;
    Ok(Json(json!([node_json(&api)])))
}

async fn node(
    State(api): State<Api>,
    auth: Auth,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    auth.require_monitor()?;
    if name != node_name() {
        return Err(ApiError::not_found());
    }
    Ok(Json(node_json(&api)))
}

async fn extensions(_auth: Auth) -> Json<Value> {
    Json(json!([]))
}

async fn cluster_name(_auth: Auth) -> Json<Value> {
    Json(json!({"name": node_name()}))
}

fn failed(body: Value) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

async fn alarms(State(api): State<Api>, auth: Auth) -> ApiResult<Response> {
    auth.require_monitor()?;
    let active = active_alarms(&api);
    if active.is_empty() {
        return Ok(Json(json!({"status": "ok"})).into_response());
    }
    let node = node_name();
    let alarms: Vec<Value> = active
        .iter()
        .map(|a| json!({"node": node, "resource": a}))
        .collect();
    Ok(failed(json!({
        "status": "failed",
        "reason": "resource alarm(s) in effect in the cluster",
        "alarms": alarms,
    })))
}

async fn port_listener(
    State(api): State<Api>,
    auth: Auth,
    Path(port): Path<String>,
) -> ApiResult<Response> {
    auth.require_monitor()?;
    let Ok(port) = port.parse::<u16>() else {
        return Err(ApiError::bad_request(format!("Invalid port: {port}")));
    };
    if api.listeners.iter().any(|l| l.addr.port() == port) {
        return Ok(Json(json!({"status": "ok", "port": port})).into_response());
    }
    let ports: Vec<u16> = api.listeners.iter().map(|l| l.addr.port()).collect();
    Ok(failed(
        json!({"status": "failed", "reason": "No active listener", "missing": port, "ports": ports}),
    ))
}

async fn protocol_listener(
    State(api): State<Api>,
    auth: Auth,
    Path(protocol): Path<String>,
) -> ApiResult<Response> {
    auth.require_monitor()?;
    if api.listeners.iter().any(|l| l.protocol == protocol) {
        return Ok(Json(json!({"status": "ok", "protocol": protocol})).into_response());
    }
    let protocols: Vec<&str> = api.listeners.iter().map(|l| l.protocol).collect();
    Ok(failed(
        json!({"status": "failed", "reason": "No active listener", "missing": protocol, "protocols": protocols}),
    ))
}

/// Checks that hold on a single node that serves (virtual hosts, quorum criticality,
/// readiness, certificates within their validity).
async fn always_ok(auth: Auth) -> ApiResult<Json<Value>> {
    auth.require_monitor()?;
    Ok(Json(json!({"status": "ok"})))
}

/// Declares `aliveness-test` in the vhost, publishes a message to it and reads it back, as
/// RabbitMQ's aliveness test does.
async fn aliveness(
    State(api): State<Api>,
    auth: Auth,
    Path(vhost): Path<String>,
) -> ApiResult<Json<Value>> {
    auth.require_vhost(&api, &vhost)?;
    let v = api.core.vhost(&vhost).ok_or_else(ApiError::not_found)?;
    let declare = QueueDeclare {
        name: "aliveness-test".into(),
        passive: false,
        durable: false,
        exclusive: false,
        auto_delete: false,
        arguments: Default::default(),
        client_named: true,
    };
    let (q, _, _) = v.declare_queue(declare, 0)?;
    let x = v.exchange("")?;
    let message = super::messages::api_message(
        "",
        "aliveness-test",
        &Map::new(),
        b"test_message".to_vec().into(),
    )?;
    let (queues, _) = v.route(&x, &message);
    v.store_and_push(&queues, std::sync::Arc::new(message), None, |_, _| {});
    q.dispatch();
    match q.get(true, crate::broker::queue::quorum::machine::MANAGEMENT) {
        Some(_) => Ok(Json(json!({"status": "ok"}))),
        None => Err(ApiError::internal(
            "aliveness test message was not received",
        )),
    }
}

async fn history(State(api): State<Api>, _auth: Auth) -> Json<Value> {
    Json(json!(api.rates.history()))
}
