//! Messages as the management API takes and shows them: the publish form's
//! `{properties, routing_key, payload, payload_encoding}` and the get form's answers.

use super::error::ApiError;
use crate::broker::json::{table, table_json};
use crate::broker::message::{Message, MessageContent};
use crate::protocol::properties::BasicProperties;
use base64::Engine;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use std::sync::Arc;

fn text(props: &Map<String, Value>, key: &str) -> Option<String> {
    props.get(key).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn number(props: &Map<String, Value>, key: &str) -> Option<u64> {
    props.get(key).and_then(|v| match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

/// The basic properties of the publish form's `properties` object.
pub fn properties(props: &Map<String, Value>) -> BasicProperties {
    BasicProperties {
        content_type: text(props, "content_type"),
        content_encoding: text(props, "content_encoding"),
        headers: match props.get("headers") {
            Some(Value::Object(h)) => Some(table(h)),
            _ => None,
        },
        delivery_mode: number(props, "delivery_mode").map(|n| n.min(255) as u8),
        priority: number(props, "priority").map(|n| n.min(255) as u8),
        correlation_id: text(props, "correlation_id"),
        reply_to: text(props, "reply_to"),
        expiration: text(props, "expiration"),
        message_id: text(props, "message_id"),
        timestamp: number(props, "timestamp"),
        kind: text(props, "type"),
        user_id: text(props, "user_id"),
        app_id: text(props, "app_id"),
        cluster_id: text(props, "cluster_id"),
    }
}

/// A message built from the publish form, ready for routing.
pub fn api_message(
    exchange: &str,
    routing_key: &str,
    props: &Map<String, Value>,
    body: Bytes,
) -> Result<Message, ApiError> {
    let p = properties(props);
    let expiration =
        match &p.expiration {
            Some(e) => Some(e.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("invalid expiration '{e}': no_integer"))
            })?),
            None => None,
        };
    let mut m = Message::new(
        Arc::from(exchange),
        routing_key,
        p.is_persistent(),
        MessageContent::Frames {
            raw_properties: p.to_bytes(),
            body,
        },
    );
    m.priority = p.priority;
    m.set_expiration(expiration);
    Ok(m)
}

/// The payload of the publish form, decoded per its `payload_encoding`.
pub fn payload(form: &Map<String, Value>) -> Result<Bytes, ApiError> {
    let mut missing = Vec::new();
    for key in ["routing_key", "payload", "payload_encoding", "properties"] {
        if !form.contains_key(key) {
            missing.push(format!("{{key_missing,{key}}}"));
        }
    }
    if !missing.is_empty() {
        return Err(ApiError::bad_request(format!("[{}]", missing.join(","))));
    }
    let payload = form.get("payload").and_then(Value::as_str).unwrap_or("");
    match form.get("payload_encoding").and_then(Value::as_str) {
        Some("string") => Ok(Bytes::copy_from_slice(payload.as_bytes())),
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map(Bytes::from)
            .map_err(|_| ApiError::bad_request("not_base64")),
        _ => Err(ApiError::bad_request("unknown_payload_encoding")),
    }
}

/// Basic properties as the API shows them: only those set, and RabbitMQ's `[]` for none.
pub fn properties_json(p: &BasicProperties) -> Value {
    let mut o = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            o.insert(k.to_owned(), v);
        }
    };
    put("content_type", p.content_type.clone().map(Value::from));
    put(
        "content_encoding",
        p.content_encoding.clone().map(Value::from),
    );
    put("headers", p.headers.as_ref().map(table_json));
    put("delivery_mode", p.delivery_mode.map(Value::from));
    put("priority", p.priority.map(Value::from));
    put("correlation_id", p.correlation_id.clone().map(Value::from));
    put("reply_to", p.reply_to.clone().map(Value::from));
    put("expiration", p.expiration.clone().map(Value::from));
    put("message_id", p.message_id.clone().map(Value::from));
    put("timestamp", p.timestamp.map(Value::from));
    put("type", p.kind.clone().map(Value::from));
    put("user_id", p.user_id.clone().map(Value::from));
    put("app_id", p.app_id.clone().map(Value::from));
    put("cluster_id", p.cluster_id.clone().map(Value::from));
    if o.is_empty() {
        json!([])
    } else {
        Value::Object(o)
    }
}

/// A got message as /api/queues/{vhost}/{name}/get answers: the payload as a string when
/// it is UTF-8 and `auto` allows, else base64; cut to `truncate` bytes if given.
pub fn got_json(
    m: &Message,
    redelivered: bool,
    message_count: u32,
    base64_only: bool,
    truncate: Option<usize>,
) -> Value {
    let body = m.body();
    let shown = &body[..truncate.map_or(body.len(), |t| t.min(body.len()))];
    let (payload, encoding) = match std::str::from_utf8(shown) {
        Ok(s) if !base64_only => (s.to_owned(), "string"),
        _ => (
            base64::engine::general_purpose::STANDARD.encode(shown),
            "base64",
        ),
    };
    json!({
        "payload_bytes": body.len(),
        "redelivered": redelivered,
        "exchange": &*m.exchange,
        "routing_key": m.routing_key(),
        "message_count": message_count,
        "properties": m.properties().map_or(json!([]), |p| properties_json(&p)),
        "payload": payload,
        "payload_encoding": encoding,
    })
}
