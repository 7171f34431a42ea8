//! /api/users, /api/vhosts, /api/permissions and /api/topic-permissions: the access model,
//! administrators only.

use super::auth::Auth;
use super::body::{created, deleted, json_body};
use super::error::{ApiError, ApiResult};
use super::query::ListQuery;
use super::rates::{CHANNEL_FIELDS, Key, channel_values};
use super::{Api, node_name, with_rates};
use crate::broker::access::definitions::Tags;
use crate::broker::access::password::{Hashing, PasswordHash};
use crate::broker::access::{Permissions, TopicPermissions};
use crate::broker::vhost_metadata::{parse_queue_type, parse_tags};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/users", get(list_users))
        .route(
            "/api/users/without-permissions",
            get(users_without_permissions),
        )
        .route(
            "/api/users/bulk-delete",
            axum::routing::post(bulk_delete_users),
        )
        .route(
            "/api/users/{user}",
            get(show_user).put(put_user).delete(delete_user),
        )
        .route("/api/vhosts", get(list_vhosts))
        .route(
            "/api/vhosts/{vhost}",
            get(show_vhost).put(put_vhost).delete(delete_vhost),
        )
        .route(
            "/api/vhosts/{vhost}/deletion/protection",
            axum::routing::post(protect_vhost).delete(protect_vhost),
        )
        .merge(grant_routes(
            Grants::Permissions,
            "/api/permissions",
            "permissions",
        ))
        .merge(grant_routes(
            Grants::Topic,
            "/api/topic-permissions",
            "topic-permissions",
        ))
        .route(
            "/api/permissions/{vhost}/{user}",
            get(show_permission)
                .put(put_permission)
                .delete(delete_permission),
        )
        .route(
            "/api/topic-permissions/{vhost}/{user}",
            get(show_topic_permission)
                .put(put_topic_permission)
                .delete(delete_topic_permission),
        )
}

// ---- users ----

fn users_json(api: &Api) -> Vec<Value> {
    let defs = api.core.access_definitions();
    defs.users
        .iter()
        .map(|u| {
            let tags = match &u.tags {
                Tags::List(l) => l.clone(),
                _ => Vec::new(),
            };
            let limits = if u.limits.is_null() {
                json!({})
            } else {
                u.limits.clone()
            };
            json!({
                "name": u.name,
                "password_hash": u.password_hash,
                "hashing_algorithm": u.hashing_algorithm,
                "tags": tags,
                "limits": limits,
            })
        })
        .collect()
}

async fn list_users(
    State(api): State<Api>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    auth.require_admin()?;
    Ok(Json(q.apply(users_json(&api))?))
}

async fn users_without_permissions(State(api): State<Api>, auth: Auth) -> ApiResult<Json<Value>> {
    auth.require_admin()?;
    let model = api.core.access().snapshot();
    let list = users_json(&api)
        .into_iter()
        .filter(|u| {
            let name = u["name"].as_str().unwrap_or("");
            !model.permissions.keys().any(|(user, _)| user == name)
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

async fn show_user(
    State(api): State<Api>,
    auth: Auth,
    Path(user): Path<String>,
) -> ApiResult<Json<Value>> {
    auth.require_admin()?;
    users_json(&api)
        .into_iter()
        .find(|u| u["name"] == user.as_str())
        .map(Json)
        .ok_or_else(ApiError::not_found)
}

#[derive(Debug, Deserialize)]
struct UserBody {
    password: Option<String>,
    password_hash: Option<String>,
    hashing_algorithm: Option<String>,
    #[serde(default)]
    tags: Option<Tags>,
}

async fn put_user(
    State(api): State<Api>,
    auth: Auth,
    Path(user): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let b: UserBody = json_body(&body)?;
    // RabbitMQ wants the tags (an empty string for none) before anything else.
    let Some(tags) = &b.tags else {
        return Err(ApiError::bad_request("tags_not_present"));
    };
    let access = api.core.access();
    let existing = access.user(&user);
    let password = match (&b.password, &b.password_hash) {
        (Some(p), _) => PasswordHash::new(p),
        // An empty hash is a user without a password (other mechanisms, EXTERNAL, log it
        // in), as RabbitMQ shows it.
        (None, Some(h)) => {
            let hashing = match b.hashing_algorithm.as_deref() {
                Some(name) => Hashing::from_rabbitmq(name).ok_or_else(|| {
                    ApiError::bad_request(format!("Unknown hashing algorithm: {name}"))
                })?,
                None => Hashing::Sha256,
            };
            PasswordHash::from_base64(hashing, h)
                .ok_or_else(|| ApiError::bad_request("invalid password_hash"))?
        }
        // As RabbitMQ: an existing user's password is cleared; a new one gets one nobody
        // knows.
        (None, None) if existing.is_some() => PasswordHash::none(),
        (None, None) => PasswordHash::unknown(),
    };
    access.put_user(&user, password, tags.to_vec());
    api.core.persist_access();
    Ok(created(existing.is_some()))
}

async fn delete_user(
    State(api): State<Api>,
    auth: Auth,
    Path(user): Path<String>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    deleted(api.core.delete_user(&user))
}

#[derive(Debug, Deserialize)]
struct BulkDelete {
    users: Vec<String>,
}

async fn bulk_delete_users(
    State(api): State<Api>,
    auth: Auth,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let b: BulkDelete = json_body(&body)?;
    for u in b.users {
        api.core.delete_user(&u);
    }
    Ok(StatusCode::NO_CONTENT)
}

// ---- vhosts ----

fn vhost_json(api: &Api, name: &str) -> Value {
    let (mut ready, mut unacked) = (0u64, 0u64);
    if let Some(v) = api.core.vhost(name) {
        for q in v.queues() {
            let i = q.info();
            ready += i.ready;
            unacked += i.counters.unacked;
        }
    }
    let mut stats = Map::new();
    with_rates(
        &mut stats,
        &CHANNEL_FIELDS,
        &channel_values(&api.rates.totals(name)),
        &api.rates
            .rates(&Key::Vhost(name.to_owned()), CHANNEL_FIELDS.len()),
    );
    // Bytes of the vhost's open connections, as of the last sample.
    let (mut recv, mut send) = (0u64, 0u64);
    for c in api.core.connections().iter().filter(|c| c.vhost == name) {
        if let Some(s) = api.rates.connection(c.id) {
            recv += s.recv_oct;
            send += s.send_oct;
        }
    }
    let meta = api
        .core
        .vhost(name)
        .map(|v| v.metadata())
        .unwrap_or_default();
    json!({
        "cluster_state": {node_name(): "running"},
        "default_queue_type": meta.queue_type().as_str(),
        "description": meta.description,
        "metadata": meta,
        "tags": meta.tags,
        "protected_from_deletion": meta.protected_from_deletion,
        "tracing": api.core.vhost(name).is_some_and(|v| v.tracing()),
        "name": name,
        "message_stats": stats,
        "messages": ready + unacked,
        "messages_details": {"rate": 0.0},
        "messages_ready": ready,
        "messages_ready_details": {"rate": 0.0},
        "messages_unacknowledged": unacked,
        "messages_unacknowledged_details": {"rate": 0.0},
        "recv_oct": recv,
        "recv_oct_details": {"rate": 0.0},
        "send_oct": send,
        "send_oct_details": {"rate": 0.0},
    })
}

async fn list_vhosts(
    State(api): State<Api>,
    auth: Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let list = auth
        .vhosts(&api, None)
        .iter()
        .map(|v| vhost_json(&api, &v.name))
        .collect();
    Ok(Json(q.apply(list)?))
}

async fn show_vhost(
    State(api): State<Api>,
    auth: Auth,
    Path(vhost): Path<String>,
) -> ApiResult<Json<Value>> {
    auth.require_vhost(&api, &vhost)?;
    Ok(Json(vhost_json(&api, &vhost)))
}

/// A vhost's PUT body (`rabbit_mgmt_wm_vhost:accept_content/2`).
#[derive(Debug, Default, Deserialize)]
struct VhostBody {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    tags: Option<Value>,
    #[serde(default)]
    default_queue_type: Option<Value>,
    /// 3.11.0's name for it, still read by RabbitMQ (rabbitmq-server#7734).
    #[serde(default)]
    defaultqueuetype: Option<Value>,
    /// Turns the firehose tracer on or off; absent leaves it as it is.
    #[serde(default)]
    tracing: Option<Value>,
}

/// A vhost's `tracing`, as RabbitMQ's `parse_bool` reads it: a boolean or its text.
fn parse_tracing(v: Option<&Value>) -> ApiResult<Option<bool>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s == "false" => Ok(Some(false)),
        Some(other) => Err(ApiError::bad_request_term(json!(["not_boolean", other]))),
    }
}

async fn put_vhost(
    State(api): State<Api>,
    auth: Auth,
    Path(vhost): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let b: VhostBody = json_body(&body)?;
    let dqt = b
        .default_queue_type
        .as_ref()
        .or(b.defaultqueuetype.as_ref());
    let dqt = parse_queue_type(dqt).map_err(ApiError::bad_request)?;
    let tracing = parse_tracing(b.tracing.as_ref())?;
    let existing = api.core.vhost(&vhost);
    let existed = existing.is_some();
    // As RabbitMQ: description and tags are replaced (absent ones by empty ones), the
    // default queue type only when given, the deletion protection kept.
    let mut meta = existing.map(|v| v.metadata()).unwrap_or_default();
    meta.description = b.description.unwrap_or_default();
    meta.tags = parse_tags(b.tags.as_ref());
    if dqt.is_some() {
        meta.default_queue_type = dqt;
    }
    let v = api
        .core
        .add_vhost(&vhost)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    v.set_metadata(meta);
    if let Some(on) = tracing {
        v.set_tracing(on);
    }
    api.core.persist_access();
    if !existed {
        // As RabbitMQ: the user who creates a vhost gets full permissions on it.
        api.core
            .access()
            .set_permissions(&auth.user, &vhost, Permissions::all());
        api.core.persist_access();
    }
    Ok(created(existed))
}

async fn delete_vhost(
    State(api): State<Api>,
    auth: Auth,
    Path(vhost): Path<String>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    if api
        .core
        .vhost(&vhost)
        .is_some_and(|v| v.metadata().protected_from_deletion)
    {
        let why = format!(
            "Refusing to delete virtual host '{vhost}' because it is protected from deletion"
        );
        tracing::warn!("{why}");
        return Err(ApiError::precondition_failed(why));
    }
    deleted(api.core.delete_vhost(&vhost))
}

/// POST enables and DELETE disables a vhost's protection from deletion (RabbitMQ 4.x's
/// `/api/vhosts/{vhost}/deletion/protection`).
async fn protect_vhost(
    State(api): State<Api>,
    auth: Auth,
    method: axum::http::Method,
    Path(vhost): Path<String>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let enable = method == axum::http::Method::POST;
    let Some(v) = api.core.vhost(&vhost) else {
        let verb = if enable { "enable" } else { "disable" };
        return Err(ApiError::missing(format!(
            "Cannot {verb} deletion protection of virtual host '{vhost}' because it does not exist"
        )));
    };
    let mut meta = v.metadata();
    meta.protected_from_deletion = enable;
    v.set_metadata(meta);
    api.core.persist_access();
    Ok(StatusCode::NO_CONTENT)
}

// ---- permissions ----

/// Permissions (configure/write/read per user and vhost) or topic permissions (write/read
/// per user, vhost and exchange): the same four read routes serve both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grants {
    Permissions,
    Topic,
}

fn grants_json(api: &Api, g: Grants, keep: impl Fn(&str, &str) -> bool) -> Vec<Value> {
    let defs = api.core.access_definitions();
    match g {
        Grants::Permissions => defs
            .permissions
            .iter()
            .filter(|p| keep(&p.user, &p.vhost))
            .map(|p| {
                json!({"user": p.user, "vhost": p.vhost, "configure": p.configure,
                    "write": p.write, "read": p.read})
            })
            .collect(),
        Grants::Topic => defs
            .topic_permissions
            .iter()
            .filter(|p| keep(&p.user, &p.vhost))
            .map(|p| {
                json!({"user": p.user, "vhost": p.vhost, "exchange": p.exchange,
                    "write": p.write, "read": p.read})
            })
            .collect(),
    }
}

/// GET /api/permissions, /api/users/{user}/permissions, /api/vhosts/{vhost}/permissions
/// and /api/permissions/{vhost}/{user}, and the same for topic permissions.
fn grant_routes(g: Grants, base: &str, per: &str) -> Router<Api> {
    Router::new()
        .route(
            base,
            get(move |State(api): State<Api>, auth: Auth| async move {
                auth.require_admin()?;
                ApiResult::Ok(Json(Value::Array(grants_json(&api, g, |_, _| true))))
            }),
        )
        .route(
            &format!("/api/users/{{user}}/{per}"),
            get(
                move |State(api): State<Api>, auth: Auth, Path(user): Path<String>| async move {
                    auth.require_admin()?;
                    api.core
                        .access()
                        .user(&user)
                        .ok_or_else(ApiError::not_found)?;
                    let list = grants_json(&api, g, |u, _| u == user);
                    ApiResult::Ok(Json(Value::Array(list)))
                },
            ),
        )
        .route(
            &format!("/api/vhosts/{{vhost}}/{per}"),
            get(
                move |State(api): State<Api>, auth: Auth, Path(vhost): Path<String>| async move {
                    auth.require_admin()?;
                    api.core.vhost(&vhost).ok_or_else(ApiError::not_found)?;
                    let list = grants_json(&api, g, |_, v| v == vhost);
                    ApiResult::Ok(Json(Value::Array(list)))
                },
            ),
        )
}

/// GET /api/permissions/{vhost}/{user}: one object; for topic permissions the list of the
/// user's exchanges there.
async fn show_grant(
    api: &Api,
    auth: &Auth,
    g: Grants,
    vhost: &str,
    user: &str,
) -> ApiResult<Json<Value>> {
    auth.require_admin()?;
    let list = grants_json(api, g, |u, v| u == user && v == vhost);
    match g {
        _ if list.is_empty() => Err(ApiError::not_found()),
        Grants::Permissions => Ok(Json(list.into_iter().next().unwrap_or_default())),
        Grants::Topic => Ok(Json(Value::Array(list))),
    }
}

async fn show_permission(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, user)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    show_grant(&api, &auth, Grants::Permissions, &vhost, &user).await
}

async fn show_topic_permission(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, user)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    show_grant(&api, &auth, Grants::Topic, &vhost, &user).await
}

#[derive(Debug, Deserialize)]
struct PermissionBody {
    configure: Option<String>,
    write: Option<String>,
    read: Option<String>,
}

/// The user and the vhost a permission names must both exist.
fn check_user_and_vhost(api: &Api, user: &str, vhost: &str) -> ApiResult<()> {
    if api.core.vhost(vhost).is_none() || api.core.access().user(user).is_none() {
        return Err(ApiError::bad_request("vhost_or_user_not_found"));
    }
    Ok(())
}

async fn put_permission(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, user)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let b: PermissionBody = json_body(&body)?;
    let mut missing = Vec::new();
    for (k, v) in [
        ("configure", &b.configure),
        ("write", &b.write),
        ("read", &b.read),
    ] {
        if v.is_none() {
            missing.push(format!("{{key_missing,{k}}}"));
        }
    }
    if !missing.is_empty() {
        return Err(ApiError::bad_request(format!("[{}]", missing.join(","))));
    }
    check_user_and_vhost(&api, &user, &vhost)?;
    let p = Permissions::new(
        b.configure.as_deref().unwrap_or(""),
        b.write.as_deref().unwrap_or(""),
        b.read.as_deref().unwrap_or(""),
    )
    .map_err(|e| ApiError::bad_request(format!("invalid regular expression: {e}")))?;
    let existed = api.core.access().grant(&user, &vhost).is_some();
    api.core.access().set_permissions(&user, &vhost, p);
    api.core.persist_access();
    Ok(created(existed))
}

async fn delete_permission(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let found = api.core.access().clear_permissions(&user, &vhost);
    if found {
        api.core.persist_access();
    }
    deleted(found)
}

#[derive(Debug, Deserialize)]
struct TopicPermissionBody {
    exchange: Option<String>,
    write: Option<String>,
    read: Option<String>,
}

async fn put_topic_permission(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, user)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let b: TopicPermissionBody = json_body(&body)?;
    let Some(exchange) = b.exchange else {
        return Err(ApiError::bad_request("[{key_missing,exchange}]"));
    };
    check_user_and_vhost(&api, &user, &vhost)?;
    let (write, read) = (b.write.unwrap_or_default(), b.read.unwrap_or_default());
    for p in [&write, &read] {
        regex::Regex::new(p)
            .map_err(|e| ApiError::bad_request(format!("invalid regular expression: {e}")))?;
    }
    api.core.access().set_topic_permissions(
        &user,
        &vhost,
        TopicPermissions {
            exchange,
            write,
            read,
        },
    );
    api.core.persist_access();
    Ok(StatusCode::CREATED)
}

#[derive(Debug, Deserialize)]
struct ExchangeQuery {
    exchange: Option<String>,
}

async fn delete_topic_permission(
    State(api): State<Api>,
    auth: Auth,
    Path((vhost, user)): Path<(String, String)>,
    Query(q): Query<ExchangeQuery>,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let found = api
        .core
        .access()
        .clear_topic_permissions(&user, &vhost, q.exchange.as_deref());
    if found {
        api.core.persist_access();
    }
    deleted(found)
}
