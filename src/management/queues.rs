//! /api/queues: list with depths, consumers and rates; declare, delete, purge, and get
//! messages the way the UI's "Get messages" does.

use super::auth::Auth;
use super::bindings;
use super::body::{DeleteQuery, created, json_body};
use super::error::{ApiError, ApiResult};
use super::messages::got_json;
use super::query::ListQuery;
use super::rates::{Key, QUEUE_FIELDS, queue_values};
use super::{Api, node_name};
use crate::broker::access::{Access, ResourceKind};
use crate::broker::json::{table, table_json};
use crate::broker::queue::Queue;
use crate::broker::vhost::QueueDeclare;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/queues", get(list_all))
        .route("/api/queues/{vhost}", get(list_vhost))
        .route(
            "/api/queues/{vhost}/{name}",
            get(show).put(declare).delete(remove),
        )
        .route("/api/queues/{vhost}/{name}/bindings", get(queue_bindings))
        .route("/api/queues/{vhost}/{name}/contents", delete(purge))
        .route("/api/queues/{vhost}/{name}/get", post(get_messages))
        .route("/api/queues/{vhost}/{name}/actions", post(actions))
}

/// A time in RabbitMQ's `idle_since` format: `2026-12-06T07:18:59.579+00:00`.
pub fn iso_time(ms: u64) -> String {
    let (secs, millis) = (ms / 1000, ms % 1000);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `{"rate": r}`.
#[derive(Debug, Serialize)]
struct Rate {
    rate: f64,
}

/// A queue's `message_stats`: each counter and its `_details`, serialised straight from the
/// numbers (a list of 10,000 queues builds no maps for them).
#[derive(Debug)]
struct MessageStats {
    values: Vec<u64>,
    rates: Vec<f64>,
}

/// The `_details` names of `QUEUE_FIELDS[..9]`, in the same order.
const DETAILS: [&str; 9] = [
    "publish_details",
    "deliver_details",
    "deliver_no_ack_details",
    "get_details",
    "get_no_ack_details",
    "get_empty_details",
    "redeliver_details",
    "ack_details",
    "deliver_get_details",
];

impl Serialize for MessageStats {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(DETAILS.len() * 2))?;
        for (i, details) in DETAILS.iter().enumerate() {
            m.serialize_entry(QUEUE_FIELDS[i], &self.values[i])?;
            m.serialize_entry(
                details,
                &Rate {
                    rate: self.rates[i],
                },
            )?;
        }
        m.end()
    }
}

/// A queue as /api/queues shows it, RabbitMQ's fields in its order.
#[derive(Debug, Serialize)]
pub struct QueueRow<'a> {
    arguments: Value,
    auto_delete: bool,
    consumer_capacity: f64,
    consumer_utilisation: f64,
    consumers: usize,
    durable: bool,
    effective_policy_definition: Map<String, Value>,
    exclusive: bool,
    exclusive_consumer_tag: Option<String>,
    head_message_timestamp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    idle_since: Option<String>,
    /// What the ready messages' bodies hold in memory; Warren does not account the rest
    /// per queue.
    memory: u64,
    message_bytes: u64,
    message_bytes_paged_out: u64,
    message_bytes_persistent: u64,
    message_bytes_ram: u64,
    message_bytes_ready: u64,
    message_bytes_unacknowledged: u64,
    message_stats: MessageStats,
    messages: u64,
    messages_details: Rate,
    messages_paged_out: u64,
    messages_persistent: u64,
    messages_ram: u64,
    messages_ready: u64,
    messages_ready_details: Rate,
    messages_ready_ram: u64,
    messages_unacknowledged: u64,
    messages_unacknowledged_details: Rate,
    messages_unacknowledged_ram: u64,
    name: &'a str,
    node: &'static str,
    operator_policy: Option<String>,
    policy: Option<String>,
    single_active_consumer_tag: Option<String>,
    state: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    vhost: &'a str,
}

pub fn queue_row<'a>(api: &Api, q: &'a Queue) -> QueueRow<'a> {
    let i = q.info();
    let policy = q.policy_status();
    let c = &i.counters;
    let unacked = c.unacked;
    let messages = i.ready + unacked;
    let key = Key::Queue(q.vhost.to_string(), q.name.to_string());
    let rates = api.rates.rates(&key, QUEUE_FIELDS.len());
    let values = queue_values(c, i.ready);
    let idle = i.consumers.is_empty();
    let capacity = if idle { 0.0 } else { 1.0 };
    let single_active = i
        .consumers
        .iter()
        .find(|c| c.active)
        .filter(|_| i.single_active_consumer)
        .map(|c| c.tag.to_string());
    QueueRow {
        arguments: table_json(&q.settings.arguments),
        auto_delete: q.settings.auto_delete,
        consumer_capacity: capacity,
        consumer_utilisation: capacity,
        consumers: i.consumers.len(),
        durable: q.settings.durable,
        effective_policy_definition: policy.effective_policy_definition,
        exclusive: q.owner.is_some(),
        exclusive_consumer_tag: i
            .consumers
            .iter()
            .find(|c| c.exclusive)
            .map(|c| c.tag.to_string()),
        head_message_timestamp: None,
        idle_since: idle.then(|| iso_time(i.last_used)),
        memory: i.ready_bytes,
        message_bytes: i.ready_bytes,
        message_bytes_paged_out: 0,
        message_bytes_persistent: 0,
        message_bytes_ram: i.ready_bytes,
        message_bytes_ready: i.ready_bytes,
        message_bytes_unacknowledged: 0,
        message_stats: MessageStats {
            values: values[..9].to_vec(),
            rates: rates[..9].to_vec(),
        },
        messages,
        messages_details: Rate { rate: rates[9] },
        messages_paged_out: i.paged_out,
        messages_persistent: 0,
        messages_ram: messages - i.paged_out.min(messages),
        messages_ready: i.ready,
        messages_ready_details: Rate { rate: rates[10] },
        messages_ready_ram: i.ready - i.paged_out.min(i.ready),
        messages_unacknowledged: unacked,
        messages_unacknowledged_details: Rate { rate: rates[11] },
        messages_unacknowledged_ram: unacked,
        name: &q.name,
        node: node_name(),
        operator_policy: policy.operator_policy,
        policy: policy.policy,
        single_active_consumer_tag: single_active,
        state: "running",
        kind: q.declared.kind.as_str(),
        vhost: &q.vhost,
    }
}

/// A queue as JSON, for the answers that filter, sort or extend it.
pub fn queue_json(api: &Api, q: &Queue) -> Value {
    serde_json::to_value(queue_row(api, q)).unwrap_or_default()
}

/// A list of queues: straight from the rows when the query asks for the whole list as it
/// is (the common, and the largest, answer), else through the generic list parameters.
fn queue_list(
    api: &Api,
    queues: &[Arc<Queue>],
    q: &ListQuery,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    if q.is_plain() {
        let rows: Vec<QueueRow<'_>> = queues.iter().map(|x| queue_row(api, x)).collect();
        return Ok(Json(rows).into_response());
    }
    // Sorted by a column the rows know: no row is turned into JSON unless it is returned.
    let column = q.sort_path().map(Column::of);
    if let Some(column) = column.unwrap_or(Some(Column::Name)) {
        let rows: Vec<QueueRow<'_>> = queues.iter().map(|x| queue_row(api, x)).collect();
        let answer = q.apply_by(
            rows,
            |r| Some(r.name),
            |a, b, _| column.compare(a, b),
            |r| serde_json::to_value(r).unwrap_or_default(),
        )?;
        return Ok(Json(answer).into_response());
    }
    let list = queues.iter().map(|x| queue_json(api, x)).collect();
    Ok(Json(q.apply(list)?).into_response())
}

/// The columns the queue list sorts by without JSON: names, depths, counters and rates.
#[derive(Debug, Clone, Copy)]
enum Column {
    Name,
    Vhost,
    Messages,
    Ready,
    Unacked,
    Consumers,
    Bytes,
    /// A `message_stats` counter (index into `QUEUE_FIELDS`), or its rate.
    Stat(usize),
    StatRate(usize),
}

impl Column {
    fn of(path: &str) -> Option<Column> {
        Some(match path {
            "name" => Column::Name,
            "vhost" => Column::Vhost,
            "messages" => Column::Messages,
            "messages_ready" => Column::Ready,
            "messages_unacknowledged" => Column::Unacked,
            "consumers" => Column::Consumers,
            "message_bytes" | "memory" => Column::Bytes,
            _ => {
                let stat = path.strip_prefix("message_stats.")?;
                let index = |f: &str| {
                    DETAILS
                        .iter()
                        .position(|d| d.strip_suffix("_details") == Some(f))
                };
                match stat.strip_suffix("_details.rate") {
                    Some(field) => Column::StatRate(index(field)?),
                    None => Column::Stat(index(stat)?),
                }
            }
        })
    }

    fn compare(self, a: &QueueRow<'_>, b: &QueueRow<'_>) -> std::cmp::Ordering {
        let num = |r: &QueueRow<'_>| -> f64 {
            match self {
                Column::Messages => r.messages as f64,
                Column::Ready => r.messages_ready as f64,
                Column::Unacked => r.messages_unacknowledged as f64,
                Column::Consumers => r.consumers as f64,
                Column::Bytes => r.message_bytes as f64,
                Column::Stat(i) => r.message_stats.values[i] as f64,
                Column::StatRate(i) => r.message_stats.rates[i],
                Column::Name | Column::Vhost => 0.0,
            }
        };
        match self {
            Column::Name => a.name.cmp(b.name),
            Column::Vhost => a.vhost.cmp(b.vhost),
            _ => num(a).total_cmp(&num(b)),
        }
    }
}

fn visible(api: &Api, auth: &Auth, only: Option<&str>) -> Vec<Arc<Queue>> {
    let mut out: Vec<Arc<Queue>> = auth
        .vhosts(api, only)
        .iter()
        .flat_map(|v| v.queues())
        .collect();
    out.sort_by(|a, b| (&a.vhost, &a.name).cmp(&(&b.vhost, &b.name)));
    out
}

async fn list_all(
    State(api): State<Api>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::response::Response> {
    queue_list(&api, &visible(&api, &auth, None), &q)
}

async fn list_vhost(
    State(api): State<Api>,
    auth: Auth,
    Path(vhost): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::response::Response> {
    auth.require_vhost(&api, &vhost)?;
    queue_list(&api, &visible(&api, &auth, Some(&vhost)), &q)
}

/// The queue a path names, whoever owns it.
fn find(api: &Api, auth: &Auth, vhost: &str, name: &str) -> ApiResult<Arc<Queue>> {
    auth.require_vhost(api, vhost)?;
    let v = api.core.vhost(vhost).ok_or_else(ApiError::not_found)?;
    v.queues()
        .into_iter()
        .find(|q| &*q.name == name)
        .ok_or_else(ApiError::not_found)
}

async fn show(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let q = find(&api, &auth, &vhost, &name)?;
    let mut o = queue_json(&api, &q);
    let consumers: Vec<Value> = super::connections::consumers_of(&api, &q);
    if let Value::Object(m) = &mut o {
        m.insert("consumer_details".into(), Value::Array(consumers));
        m.insert("incoming".into(), json!([]));
        m.insert("deliveries".into(), json!([]));
    }
    Ok(Json(o))
}

#[derive(Debug, Deserialize)]
struct DeclareBody {
    #[serde(default)]
    durable: bool,
    #[serde(default)]
    auto_delete: bool,
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
    auth.check(&api, &vhost, Access::Configure, ResourceKind::Queue, &name)?;
    let v = api.core.vhost(&vhost).ok_or_else(ApiError::not_found)?;
    let existed = v.queues().iter().any(|q| *q.name == *name);
    v.declare_queue(
        QueueDeclare {
            name,
            passive: false,
            durable: d.durable,
            exclusive: false,
            auto_delete: d.auto_delete,
            arguments: table(&d.arguments),
            client_named: true,
        },
        0,
    )?;
    Ok(created(existed))
}

async fn remove(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
    Query(dq): Query<DeleteQuery>,
) -> ApiResult<StatusCode> {
    let q = find(&api, &auth, &vhost, &name)?;
    auth.check(&api, &vhost, Access::Configure, ResourceKind::Queue, &name)?;
    let v = api.core.vhost(&vhost).ok_or_else(ApiError::not_found)?;
    let owner = q.owner.unwrap_or(0);
    v.delete_queue(&name, owner, dq.if_unused(), dq.if_empty())?;
    Ok(StatusCode::NO_CONTENT)
}

async fn queue_bindings(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    find(&api, &auth, &vhost, &name)?;
    let v = api.core.vhost(&vhost).ok_or_else(ApiError::not_found)?;
    let list = bindings::of_vhost(&v)
        .into_iter()
        .filter(|b| b["destination_type"] == "queue" && b["destination"] == name.as_str())
        .collect();
    Ok(Json(Value::Array(list)))
}

async fn purge(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let q = find(&api, &auth, &vhost, &name)?;
    auth.check(&api, &vhost, Access::Read, ResourceKind::Queue, &name)?;
    q.purge();
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct GetBody {
    count: Option<u64>,
    ackmode: Option<String>,
    encoding: Option<String>,
    truncate: Option<u64>,
}

/// Reads up to `count` messages, then requeues them (`ack_requeue_true`,
/// `reject_requeue_true`) or lets them go (`ack_requeue_false`, `reject_requeue_false`:
/// dead-lettered where the queue says so), as RabbitMQ's management "get" does.
async fn get_messages(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    // A missing queue is named with the AMQP refusal's text, as RabbitMQ answers here.
    let q = find(&api, &auth, &vhost, &name).map_err(|e| match e.status() {
        StatusCode::NOT_FOUND => {
            ApiError::missing(format!("NOT_FOUND - no queue '{name}' in vhost '{vhost}'"))
        }
        _ => e,
    })?;
    let b: GetBody = json_body(&body)?;
    let mut missing = Vec::new();
    if b.ackmode.is_none() {
        missing.push("{key_missing,ackmode}");
    }
    if b.encoding.is_none() {
        missing.push("{key_missing,encoding}");
    }
    if !missing.is_empty() {
        return Err(ApiError::bad_request(format!("[{}]", missing.join(","))));
    }
    let ackmode = b.ackmode.unwrap_or_default();
    let (requeue, reject) = match ackmode.as_str() {
        "ack_requeue_true" => (true, false),
        "reject_requeue_true" => (true, true),
        "ack_requeue_false" => (false, false),
        "reject_requeue_false" => (false, true),
        other => return Err(ApiError::bad_request(format!("Unknown ackmode: {other}"))),
    };
    let base64_only = match b.encoding.as_deref() {
        Some("auto") => false,
        Some("base64") => true,
        other => {
            return Err(ApiError::bad_request(format!(
                "Unknown encoding: {}",
                other.unwrap_or("")
            )));
        }
    };
    auth.check(&api, &vhost, Access::Read, ResourceKind::Queue, &name)?;
    let mut out = Vec::new();
    let mut taken = Vec::new();
    for _ in 0..b.count.unwrap_or(1) {
        let Some((entry, left)) = q.get(false, crate::broker::queue::quorum::machine::MANAGEMENT)
        else {
            break;
        };
        out.push(got_json(
            &entry.message,
            entry.redelivered,
            left,
            base64_only,
            b.truncate.map(|t| t as usize),
        ));
        taken.push(entry);
    }
    if requeue {
        q.requeue(taken, crate::broker::queue::quorum::Return::Requeued);
    } else if reject {
        q.discard(taken);
    } else {
        let n = taken.len() as u64;
        for e in &taken {
            q.settle(e);
        }
        q.acked(n, taken.iter().map(|e| e.seq), true);
    }
    Ok(Json(Value::Array(out)))
}

/// Mirroring actions (`sync`, `cancel_sync`): classic mirrored queues are gone in 4.x, so
/// there is nothing to do, as on a single node.
async fn actions(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    find(&api, &auth, &vhost, &name)?;
    Ok(StatusCode::NO_CONTENT)
}
