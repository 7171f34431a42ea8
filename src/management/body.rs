//! What every resource reads from a request and answers the same way: a JSON body, the
//! `if-unused` / `if-empty` flags of a DELETE, and RabbitMQ's 201 / 204 / 404 for a PUT or a
//! DELETE.

use super::error::{ApiError, ApiResult};
use axum::http::StatusCode;
use serde::Deserialize;

/// A JSON request body, refused as RabbitMQ refuses what is not JSON; an empty body is `{}`.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    parse(body).map_err(|_| ApiError::bad_request("not_json"))
}

/// A JSON body of Warren's own API (`/api/warren/`), refused with serde's words, which name
/// the field at fault; an empty body is `{}`.
pub fn json_body_explained<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    parse(body).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> serde_json::Result<T> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body)
}

/// A PUT's answer: 201 for a new object, 204 for one that was there.
pub fn created(existed: bool) -> StatusCode {
    if existed {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    }
}

/// A DELETE's answer: 204, or 404 when there was nothing to delete.
pub fn deleted(found: bool) -> ApiResult<StatusCode> {
    if found {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found())
    }
}

/// The query of a DELETE on an exchange or a queue.
#[derive(Debug, Default, Deserialize)]
pub struct DeleteQuery {
    #[serde(rename = "if-unused")]
    if_unused: Option<String>,
    #[serde(rename = "if-empty")]
    if_empty: Option<String>,
}

impl DeleteQuery {
    pub fn if_unused(&self) -> bool {
        self.if_unused.as_deref() == Some("true")
    }

    pub fn if_empty(&self) -> bool {
        self.if_empty.as_deref() == Some("true")
    }
}
