//! /api/vhost-limits and /api/user-limits: the same four routes for both kinds of limit,
//! with RabbitMQ's names (max-connections, max-queues; max-connections, max-channels).

use super::Api;
use super::auth::Auth;
use super::body::json_body;
use super::error::{ApiError, ApiResult};
use crate::broker::LimitOf;
use crate::broker::access::definitions::limits_value;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

pub fn routes() -> Router<Api> {
    Router::new()
        .merge(routes_of(LimitOf::Vhost))
        .merge(routes_of(LimitOf::User))
}

/// What each kind is called in paths and bodies, and which limits it takes.
fn words(of: LimitOf) -> (&'static str, &'static str, [&'static str; 2]) {
    match of {
        LimitOf::Vhost => ("vhost-limits", "vhost", ["max-connections", "max-queues"]),
        LimitOf::User => ("user-limits", "user", ["max-connections", "max-channels"]),
    }
}

/// RabbitMQ's refusal of a limit it does not know (3.10.8's texts, which differ by kind).
fn unknown_limit(of: LimitOf, name: &str, value: i64) -> ApiError {
    let term = format!("[{{<<\"{name}\">>,{value}}}]");
    ApiError::bad_request(match of {
        LimitOf::Vhost => format!("Validation failed\n\nUnrecognised terms {term} in limits\n"),
        LimitOf::User => format!("Unrecognised terms {term} in user-limits"),
    })
}

fn limits_json(pairs: &[(String, i64)]) -> Value {
    match limits_value(pairs) {
        Value::Null => json!({}),
        v => v,
    }
}

fn limits_of(api: &Api, of: LimitOf, owner: &str) -> Vec<(String, i64)> {
    match of {
        LimitOf::Vhost => api.core.vhost_limits(owner),
        LimitOf::User => api.core.user_limits(owner),
    }
}

/// The vhost or user a path names must exist.
fn require_owner(api: &Api, of: LimitOf, owner: &str) -> ApiResult<()> {
    let exists = match of {
        LimitOf::Vhost => api.core.vhost(owner).is_some(),
        LimitOf::User => api.core.access().user(owner).is_some(),
    };
    match of {
        _ if exists => Ok(()),
        LimitOf::Vhost => Err(ApiError::missing("vhost_not_found")),
        LimitOf::User => Err(ApiError::not_found()),
    }
}

fn set(api: &Api, of: LimitOf, owner: &str, name: String, value: i64) {
    let pairs = [(name, value)];
    match of {
        LimitOf::Vhost => api.core.apply_vhost_limits(owner, &pairs),
        LimitOf::User => api.core.apply_user_limits(owner, &pairs),
    }
    api.core.persist_access();
}

#[derive(Debug, Deserialize)]
struct LimitBody {
    value: Option<Value>,
}

fn routes_of(of: LimitOf) -> Router<Api> {
    let (base, key, _) = words(of);
    type Named = Path<(String, String)>;
    Router::new()
        .route(
            &format!("/api/{base}"),
            get(move |State(api): State<Api>, auth: Auth| async move {
                match of {
                    LimitOf::Vhost => auth.require_monitor()?,
                    LimitOf::User => auth.require_admin()?,
                }
                let mut owners: Vec<String> = match of {
                    LimitOf::Vhost => api.core.vhost_names(),
                    LimitOf::User => api.core.access().snapshot().users.into_keys().collect(),
                };
                owners.sort();
                let list = owners
                    .iter()
                    .filter_map(|o| {
                        let pairs = limits_of(&api, of, o);
                        (!pairs.is_empty()).then(|| json!({key: o, "value": limits_json(&pairs)}))
                    })
                    .collect();
                ApiResult::Ok(Json(Value::Array(list)))
            }),
        )
        .route(
            &format!("/api/{base}/{{owner}}"),
            get(
                move |State(api): State<Api>, auth: Auth, Path(owner): Path<String>| async move {
                    match of {
                        LimitOf::Vhost => auth.require_vhost(&api, &owner)?,
                        LimitOf::User if !auth.is_admin() && auth.user != owner => {
                            return Err(ApiError::not_authorised("Not administrator user"));
                        }
                        LimitOf::User => {}
                    }
                    let pairs = limits_of(&api, of, &owner);
                    if pairs.is_empty() {
                        return ApiResult::Ok(Json(json!([])));
                    }
                    Ok(Json(json!([{key: owner, "value": limits_json(&pairs)}])))
                },
            ),
        )
        .route(
            &format!("/api/{base}/{{owner}}/{{name}}"),
            axum::routing::put(
                move |State(api): State<Api>,
                      auth: Auth,
                      Path((owner, name)): Named,
                      body: axum::body::Bytes| async move {
                    auth.require_admin()?;
                    require_owner(&api, of, &owner)?;
                    let b: LimitBody = json_body(&body)?;
                    let value = b
                        .value
                        .and_then(|v| v.as_i64().or_else(|| v.as_str()?.parse().ok()))
                        .ok_or_else(|| ApiError::bad_request("[{key_missing,value}]"))?;
                    let (_, _, known) = words(of);
                    if !known.contains(&name.as_str()) {
                        return Err(unknown_limit(of, &name, value));
                    }
                    set(&api, of, &owner, name, value);
                    ApiResult::Ok(StatusCode::NO_CONTENT)
                },
            )
            .delete(
                move |State(api): State<Api>, auth: Auth, Path((owner, name)): Named| async move {
                    auth.require_admin()?;
                    require_owner(&api, of, &owner)?;
                    // A negative limit is none, in RabbitMQ's terms.
                    set(&api, of, &owner, name, -1);
                    ApiResult::Ok(StatusCode::NO_CONTENT)
                },
            ),
        )
}
