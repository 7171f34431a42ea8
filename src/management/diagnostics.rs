//! `/api/warren/diagnostics`: Warren's own resource, the misuse diagnostics report
//! (`broker::diagnostics`) as a JSON array, oldest first, with the broker's profile in the
//! `x-warren-profile` header. Monitoring users may read it; administrators may also clear it.

use super::Api;
use super::auth::Auth;
use super::error::ApiResult;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::HeaderName;
use axum::routing::get;
use axum::{Json, Router};

/// Names the profile the report was gathered under beside the JSON body.
const PROFILE_HEADER: HeaderName = HeaderName::from_static("x-warren-profile");

pub fn routes() -> Router<Api> {
    Router::new().route(
        "/api/warren/diagnostics",
        get(|State(api): State<Api>, auth: Auth| async move {
            auth.require_monitor()?;
            let items = api.core.diagnostics().snapshot();
            let profile = api.core.profile().name();
            ApiResult::Ok(([(PROFILE_HEADER, profile)], Json(items)))
        })
        .delete(|State(api): State<Api>, auth: Auth| async move {
            auth.require_admin()?;
            api.core.diagnostics().clear();
            ApiResult::Ok(StatusCode::NO_CONTENT)
        }),
    )
}
