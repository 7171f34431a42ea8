//! The management API over HTTP: one blocking `ureq` agent with basic auth, paths made of
//! percent-encoded segments, and RabbitMQ's `{"error", "reason"}` bodies turned into a
//! [`Failure`] with an exit code.

use super::{Failure, exit};
use base64::Engine;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use std::time::Duration;
use ureq::Agent;

/// Everything but RFC 3986's unreserved characters: a vhost "/" becomes `%2F`, a connection
/// name's spaces and `>` are escaped, and no name can add a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `/api/a/b/...` with each segment percent-encoded.
pub fn path(segments: &[&str]) -> String {
    let mut out = String::from("/api");
    for s in segments {
        out.push('/');
        if s.chars().all(|c| c == '.') {
            // "." and ".." are dot-segments that a URL resolver would remove.
            out.push_str(&"%2E".repeat(s.len()));
        } else {
            out.extend(utf8_percent_encode(s, SEGMENT));
        }
    }
    out
}

pub struct Client {
    agent: Agent,
    base: String,
    authorization: String,
}

/// A request before it is sent: method, path, extra headers, body.
struct Request<'a> {
    method: &'static str,
    path: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: Option<&'a [u8]>,
}

impl Client {
    pub fn new(url: &str, user: &str, password: &str, timeout: Duration) -> Client {
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Client {
            agent,
            base: url.trim_end_matches('/').to_owned(),
            authorization: format!("Basic {token}"),
        }
    }

    pub fn get(&self, path: &str) -> Result<Value, Failure> {
        let body = self.send(Request {
            method: "GET",
            path,
            headers: &[],
            body: None,
        })?;
        serde_json::from_slice(&body).map_err(|e| {
            Failure::new(
                exit::SOFTWARE,
                format!("GET {path} answered with invalid JSON: {e}"),
            )
        })
    }

    pub fn put(&self, path: &str, body: &Value) -> Result<(), Failure> {
        let bytes = body.to_string();
        self.send(Request {
            method: "PUT",
            path,
            headers: &[],
            body: Some(bytes.as_bytes()),
        })
        .map(drop)
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Result<(), Failure> {
        self.post_for(path, body).map(drop)
    }

    /// A POST whose answer's body the caller wants.
    pub fn post_for(&self, path: &str, body: &[u8]) -> Result<Vec<u8>, Failure> {
        self.send(Request {
            method: "POST",
            path,
            headers: &[],
            body: Some(body),
        })
    }

    pub fn delete(&self, path: &str, headers: &[(&str, &str)]) -> Result<(), Failure> {
        self.send(Request {
            method: "DELETE",
            path,
            headers,
            body: None,
        })
        .map(drop)
    }

    /// Sends one request; a 2xx answer's body, else the API's reason as a [`Failure`].
    fn send(&self, r: Request<'_>) -> Result<Vec<u8>, Failure> {
        let url = format!("{}{}", self.base, r.path);
        let unreachable = |e: ureq::Error| {
            Failure::new(
                exit::UNAVAILABLE,
                format!("cannot reach the management API at {}: {e}", self.base),
            )
        };
        let mut response = match (r.method, r.body) {
            ("GET", _) => self.with_headers(self.agent.get(&url), r.headers).call(),
            ("DELETE", _) => self.with_headers(self.agent.delete(&url), r.headers).call(),
            ("PUT", body) => self
                .with_headers(self.agent.put(&url), r.headers)
                .content_type("application/json")
                .send(body.unwrap_or_default()),
            (_, body) => self
                .with_headers(self.agent.post(&url), r.headers)
                .content_type("application/json")
                .send(body.unwrap_or_default()),
        }
        .map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(unreachable)?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(Failure::from_status(status, &body))
    }

    fn with_headers<B>(
        &self,
        mut req: ureq::RequestBuilder<B>,
        headers: &[(&str, &str)],
    ) -> ureq::RequestBuilder<B> {
        req = req.header("Authorization", &self.authorization);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req
    }
}

impl Failure {
    /// An error answer: its `reason` (else its `error`, else the status) and the exit code its
    /// status stands for.
    fn from_status(status: u16, body: &[u8]) -> Failure {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let field = |k: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let reason = field("reason")
            .or_else(|| field("error"))
            .unwrap_or_else(|| match status {
                401 => "Login failed".to_owned(),
                _ => format!("HTTP status {status}"),
            });
        let code = match status {
            400 => exit::DATAERR,
            401 | 403 => exit::NOPERM,
            404 => exit::UNAVAILABLE,
            _ => exit::SOFTWARE,
        };
        Failure {
            code,
            message: reason,
            status: Some(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(path(&["queues", "/", "a b"]), "/api/queues/%2F/a%20b");
        assert_eq!(
            path(&["connections", "127.0.0.1:5 -> 127.0.0.1:6"]),
            "/api/connections/127.0.0.1%3A5%20%2D%3E%20127.0.0.1%3A6".replace("%2D", "-")
        );
        assert_eq!(path(&["vhosts", "../x"]), "/api/vhosts/..%2Fx");
        assert_eq!(path(&["vhosts", ".."]), "/api/vhosts/%2E%2E");
    }

    #[test]
    fn error_bodies_give_reason_and_code() {
        let f = Failure::from_status(400, br#"{"error":"bad_request","reason":"no"}"#);
        assert_eq!((f.code, f.message.as_str()), (exit::DATAERR, "no"));
        let f = Failure::from_status(401, b"");
        assert_eq!((f.code, f.message.as_str()), (exit::NOPERM, "Login failed"));
        let f = Failure::from_status(500, b"oops");
        assert_eq!(f.code, exit::SOFTWARE);
    }
}
