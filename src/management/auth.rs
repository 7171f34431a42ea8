//! Who is asking: HTTP basic auth against the broker's users, and RabbitMQ's tag rules for
//! what each may see and do (`rabbit_mgmt_util`): management sees the vhosts it has
//! permissions in, policymaker also manages their policies, monitoring sees everything, and
//! administrator may change anything.

use super::Api;
use super::error::ApiError;
use crate::broker::VHost;
use crate::broker::access::{Access, ResourceKind};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use std::net::SocketAddr;
use std::sync::Arc;

/// An authenticated management user.
#[derive(Debug, Clone)]
pub struct Auth {
    pub user: String,
    pub tags: Vec<String>,
}

impl Auth {
    fn has(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    pub fn is_admin(&self) -> bool {
        self.has("administrator")
    }

    /// Sees every vhost's objects and every connection.
    pub fn is_monitor(&self) -> bool {
        self.is_admin() || self.has("monitoring")
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::not_authorised("Not administrator user"))
        }
    }

    pub fn require_monitor(&self) -> Result<(), ApiError> {
        if self.is_monitor() {
            Ok(())
        } else {
            Err(ApiError::not_authorised("Not monitor user"))
        }
    }

    /// May manage policies (in the vhosts it may see).
    pub fn require_policymaker(&self) -> Result<(), ApiError> {
        if self.is_admin() || self.has("policymaker") {
            Ok(())
        } else {
            Err(ApiError::not_authorised("Not policymaker user"))
        }
    }

    /// Whether the user may see `vhost`'s objects: everyone with a permission there, and
    /// monitors everywhere.
    pub fn sees_vhost(&self, api: &Api, vhost: &str) -> bool {
        self.is_monitor() || api.core.access().grant(&self.user, vhost).is_some()
    }

    /// The vhosts the user sees (only `only`, if given), by name.
    pub fn vhosts(&self, api: &Api, only: Option<&str>) -> Vec<Arc<VHost>> {
        let mut names = api.core.vhost_names();
        names.retain(|n| only.is_none_or(|o| o == n) && self.sees_vhost(api, n));
        names.sort();
        names.iter().filter_map(|n| api.core.vhost(n)).collect()
    }

    /// Like `sees_vhost`, as RabbitMQ answers a vhost one may not see: 401.
    pub fn require_vhost(&self, api: &Api, vhost: &str) -> Result<(), ApiError> {
        if api.core.vhost(vhost).is_none() {
            return Err(ApiError::not_found());
        }
        if self.sees_vhost(api, vhost) {
            Ok(())
        } else {
            Err(ApiError::not_authorised(
                "User not authorised to access virtual host",
            ))
        }
    }

    /// Checks the user's AMQP permission on a resource, as RabbitMQ's management API does for
    /// what it does on a user's behalf (declare, delete, publish, get): a refusal is a 401
    /// with the AMQP refusal's text.
    pub fn check(
        &self,
        api: &Api,
        vhost: &str,
        access: Access,
        kind: ResourceKind,
        name: &str,
    ) -> Result<(), ApiError> {
        let core = &api.core;
        let grant = core
            .access()
            .grant(&self.user, vhost)
            .unwrap_or_else(|| core.access().no_grant(&self.user, vhost));
        grant
            .check(access, kind, name)
            .map_err(ApiError::not_authorised)
    }

    /// Whether the user sees a connection (or its channels): its own, or all as a monitor.
    pub fn sees_user(&self, owner: &str) -> bool {
        self.is_monitor() || self.user == owner
    }
}

/// The user and password of a `Basic` authorization header.
fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

impl FromRequestParts<Api> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Auth, ApiError> {
        let Some((user, password)) = basic_credentials(parts) else {
            return Err(ApiError::challenge());
        };
        let from_loopback = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|c| c.0.ip().is_loopback());
        if !api.core.authenticate(&user, &password, from_loopback) {
            tracing::warn!(user, "HTTP access denied: login failed");
            return Err(ApiError::login_failed());
        }
        let tags = api
            .core
            .access()
            .user(&user)
            .map(|u| u.tags)
            .unwrap_or_default();
        let auth = Auth { user, tags };
        let manages = ["management", "policymaker", "monitoring", "administrator"];
        if !auth.tags.iter().any(|t| manages.contains(&t.as_str())) {
            return Err(ApiError::not_authorised("Not management user"));
        }
        Ok(auth)
    }
}
