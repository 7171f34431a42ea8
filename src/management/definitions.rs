//! /api/definitions: export (GET) and import (POST) of RabbitMQ's definitions document,
//! whole or per vhost, through the same import the `--definitions` flag uses.

use super::Api;
use super::auth::Auth;
use super::error::{ApiError, ApiResult};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/api/definitions", get(export_all).post(import_all))
        .route(
            "/api/definitions/{vhost}",
            get(export_vhost).post(import_vhost),
        )
}

#[derive(Debug, Deserialize)]
struct ExportQuery {
    /// A file name: the answer is an attachment (the UI's "Download").
    download: Option<String>,
}

fn exported(doc: serde_json::Value, q: ExportQuery) -> Response {
    let mut r = Json(doc).into_response();
    if let Some(name) = q.download
        && let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
    {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

async fn export_all(
    State(api): State<Api>,
    auth: Auth,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    auth.require_admin()?;
    Ok(exported(api.core.export_definitions(None), q))
}

async fn export_vhost(
    State(api): State<Api>,
    auth: Auth,
    Path(vhost): Path<String>,
    Query(q): Query<ExportQuery>,
) -> ApiResult<Response> {
    auth.require_admin()?;
    api.core.vhost(&vhost).ok_or_else(ApiError::not_found)?;
    Ok(exported(api.core.export_definitions(Some(&vhost)), q))
}

fn imported(
    result: Result<crate::broker::definitions::Imported, serde_json::Error>,
) -> ApiResult<StatusCode> {
    match result {
        Ok(done) => {
            tracing::info!(
                users = done.users,
                vhosts = done.vhosts,
                exchanges = done.exchanges,
                queues = done.queues,
                bindings = done.bindings,
                skipped = done.skipped.len(),
                "imported definitions via the management API"
            );
            Ok(StatusCode::NO_CONTENT)
        }
        Err(e) => Err(ApiError::bad_request(format!("not_json: {e}"))),
    }
}

async fn import_all(
    State(api): State<Api>,
    auth: Auth,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let doc = body.to_vec();
    let core = api.core.clone();
    imported(tokio::task::block_in_place(|| {
        core.import_definitions(&doc)
    }))
}

async fn import_vhost(
    State(api): State<Api>,
    auth: Auth,
    Path(vhost): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    api.core.vhost(&vhost).ok_or_else(ApiError::not_found)?;
    let doc = body.to_vec();
    let core = api.core.clone();
    imported(tokio::task::block_in_place(|| {
        core.import_vhost_definitions(&vhost, &doc)
    }))
}
