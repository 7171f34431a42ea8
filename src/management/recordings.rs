//! /api/warren/recordings: Warren's own control API for recording connections frame by
//! frame (`crate::testing`). Administrators only: a transcript shows every message.
//!
//! - `POST /api/warren/recordings` with `{"connection_name": ..., "user": ..., "bodies": true}`
//!   (all optional; neither name nor user records every connection) starts a recording of the
//!   connections opened from then on, in memory; answers 201 with its description.
//! - `GET /api/warren/recordings` lists them; `GET /api/warren/recordings/{id}` returns the
//!   transcript as JSON lines (`application/x-ndjson`), every connection's.
//! - `DELETE /api/warren/recordings/{id}` stops it and forgets it.

use super::Api;
use super::auth::Auth;
use super::body::{deleted, json_body};
use super::error::{ApiError, ApiResult};
use crate::testing::{Recording, Selector};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub fn routes() -> Router<Api> {
    Router::new()
        .route(
            "/api/warren/recordings",
            get(|State(api): State<Api>, auth: Auth| async move {
                auth.require_admin()?;
                let list = api.core.recordings().list();
                ApiResult::Ok(Json(Value::Array(
                    list.iter().map(|r| describe(r)).collect(),
                )))
            })
            .post(
                |State(api): State<Api>, auth: Auth, body: axum::body::Bytes| async move {
                    auth.require_admin()?;
                    let selector: Selector = json_body(&body)?;
                    let recording = api.core.recordings().start(selector);
                    ApiResult::Ok((StatusCode::CREATED, Json(describe(&recording))))
                },
            ),
        )
        .route(
            "/api/warren/recordings/{id}",
            get(
                |State(api): State<Api>, auth: Auth, Path(id): Path<String>| async move {
                    auth.require_admin()?;
                    let recording = find(&api, &id)?;
                    let lines = recording.lines().map_err(|e| {
                        ApiError::internal(format!("cannot read the recording: {e}"))
                    })?;
                    ApiResult::Ok(
                        ([(header::CONTENT_TYPE, "application/x-ndjson")], lines).into_response(),
                    )
                },
            )
            .delete(
                |State(api): State<Api>, auth: Auth, Path(id): Path<String>| async move {
                    auth.require_admin()?;
                    let id = id.parse::<u64>().map_err(|_| ApiError::not_found())?;
                    deleted(api.core.recordings().stop(id).is_some())
                },
            ),
        )
}

fn find(api: &Api, id: &str) -> ApiResult<std::sync::Arc<Recording>> {
    id.parse::<u64>()
        .ok()
        .and_then(|id| api.core.recordings().get(id))
        .ok_or_else(ApiError::not_found)
}

fn describe(r: &Recording) -> Value {
    let s = r.selector();
    json!({
        "id": r.id(),
        "connection_name": s.connection_name,
        "user": s.user,
        "bodies": s.bodies,
        "dir": r.dir().map(|d| d.display().to_string()),
        "connections": r.connections(),
        "records": r.records(),
        "truncated": r.is_truncated(),
    })
}
