//! The management API's error responses: RabbitMQ's status codes and its
//! `{"error": ..., "reason": ...}` bodies, made in one place.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::broker::BrokerError;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: &'static str,
    /// Text mostly; RabbitMQ renders an Erlang term as an array (`["not_boolean", 5]`).
    reason: serde_json::Value,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// 404, as RabbitMQ words it for any missing object.
    pub fn not_found() -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            error: "Object Not Found",
            reason: serde_json::Value::from("Not Found"),
        }
    }

    /// A 400 with an error word of its own (`page_out_of_range`, ...).
    pub fn with(error: &'static str, reason: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error,
            reason: serde_json::Value::String(reason.into()),
        }
    }

    /// 404 with a reason, as RabbitMQ answers where it names what is missing
    /// (`vhost_not_found`, `no queue 'q' in vhost '/'`).
    pub fn missing(reason: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            error: "not_found",
            reason: serde_json::Value::String(reason.into()),
        }
    }

    /// 412, as RabbitMQ refuses to delete a vhost protected from deletion.
    pub fn precondition_failed(reason: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::PRECONDITION_FAILED,
            error: "precondition_failed",
            reason: serde_json::Value::String(reason.into()),
        }
    }

    pub fn bad_request(reason: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "bad_request",
            reason: serde_json::Value::String(reason.into()),
        }
    }

    /// A 400 whose reason is the term RabbitMQ reports, e.g. `["not_boolean", 5]` for a
    /// vhost's `tracing` that is not a boolean.
    pub fn bad_request_term(reason: serde_json::Value) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error: "bad_request",
            reason,
        }
    }

    /// 401 for a user who logged in but lacks the tag a resource needs.
    pub fn not_authorised(reason: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            error: "not_authorised",
            reason: serde_json::Value::String(reason.into()),
        }
    }

    /// 401 for wrong credentials.
    pub fn login_failed() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            error: "not_authorized",
            reason: serde_json::Value::from("Login failed"),
        }
    }

    /// 401 with no body and a challenge, for a request without credentials.
    pub fn challenge() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            error: "",
            reason: serde_json::Value::from(""),
        }
    }

    pub fn internal(reason: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "internal_server_error",
            reason: serde_json::Value::String(reason.into()),
        }
    }
}

/// A refusal of the broker becomes a 400 with the text an AMQP client would get, as
/// RabbitMQ's management API answers (a missing object is a 404).
impl From<BrokerError> for ApiError {
    fn from(e: BrokerError) -> ApiError {
        match e {
            BrokerError::NotFound { .. } => ApiError::not_found(),
            e => ApiError::bad_request(crate::error::AmqpError::from(e).explanation),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.error.is_empty() {
            let mut r = self.status.into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"RabbitMQ Management\""),
            );
            return r;
        }
        let body = serde_json::json!({"error": self.error, "reason": self.reason});
        (self.status, Json(body)).into_response()
    }
}
