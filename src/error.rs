//! Protocol errors and the one place that turns any error into AMQP's reply codes and texts.
//!
//! Whether an error closes a channel or the whole connection follows from its reply code
//! alone, as in the spec and RabbitMQ: 403, 404, 405 and 406 are channel errors, the rest
//! connection errors.

use crate::broker::BrokerError;
use crate::protocol::methods::{ChannelClose, ConnectionClose};
use crate::protocol::{FieldValue, Method};

pub mod code {
    pub const REPLY_SUCCESS: u16 = 200;
    pub const NO_ROUTE: u16 = 312;
    pub const CONNECTION_FORCED: u16 = 320;
    pub const ACCESS_REFUSED: u16 = 403;
    pub const NOT_FOUND: u16 = 404;
    pub const RESOURCE_LOCKED: u16 = 405;
    pub const PRECONDITION_FAILED: u16 = 406;
    pub const FRAME_ERROR: u16 = 501;
    pub const SYNTAX_ERROR: u16 = 502;
    pub const COMMAND_INVALID: u16 = 503;
    pub const CHANNEL_ERROR: u16 = 504;
    pub const UNEXPECTED_FRAME: u16 = 505;
    pub const RESOURCE_ERROR: u16 = 506;
    pub const NOT_ALLOWED: u16 = 530;
    pub const NOT_IMPLEMENTED: u16 = 540;
    pub const INTERNAL_ERROR: u16 = 541;
}

/// The constant's name, which RabbitMQ puts in front of every reply text.
pub fn code_name(reply_code: u16) -> &'static str {
    match reply_code {
        code::REPLY_SUCCESS => "REPLY_SUCCESS",
        code::NO_ROUTE => "NO_ROUTE",
        code::CONNECTION_FORCED => "CONNECTION_FORCED",
        code::ACCESS_REFUSED => "ACCESS_REFUSED",
        code::NOT_FOUND => "NOT_FOUND",
        code::RESOURCE_LOCKED => "RESOURCE_LOCKED",
        code::PRECONDITION_FAILED => "PRECONDITION_FAILED",
        code::FRAME_ERROR => "FRAME_ERROR",
        code::SYNTAX_ERROR => "SYNTAX_ERROR",
        code::COMMAND_INVALID => "COMMAND_INVALID",
        code::CHANNEL_ERROR => "CHANNEL_ERROR",
        code::UNEXPECTED_FRAME => "UNEXPECTED_FRAME",
        code::RESOURCE_ERROR => "RESOURCE_ERROR",
        code::NOT_ALLOWED => "NOT_ALLOWED",
        code::NOT_IMPLEMENTED => "NOT_IMPLEMENTED",
        code::INTERNAL_ERROR => "INTERNAL_ERROR",
        _ => "UNKNOWN_ERROR",
    }
}

/// An error to report to the peer: reply code, explanation, and the method that caused it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} (method {class_id}/{method_id})", self.reply_text())]
pub struct AmqpError {
    pub code: u16,
    pub explanation: String,
    pub class_id: u16,
    pub method_id: u16,
    /// Closes the connection whatever the code says (a refused login is a 403 that no
    /// channel could carry).
    pub on_connection: bool,
}

impl AmqpError {
    pub fn new(code: u16, explanation: impl Into<String>) -> AmqpError {
        AmqpError {
            code,
            explanation: explanation.into(),
            class_id: 0,
            method_id: 0,
            on_connection: false,
        }
    }

    /// The same error, sent as connection.close.
    pub fn on_connection(mut self) -> Self {
        self.on_connection = true;
        self
    }

    pub fn access_refused(text: impl Into<String>) -> Self {
        Self::new(code::ACCESS_REFUSED, text)
    }
    pub fn not_found(text: impl Into<String>) -> Self {
        Self::new(code::NOT_FOUND, text)
    }
    pub fn precondition_failed(text: impl Into<String>) -> Self {
        Self::new(code::PRECONDITION_FAILED, text)
    }
    pub fn frame_error(text: impl Into<String>) -> Self {
        Self::new(code::FRAME_ERROR, text)
    }
    pub fn syntax_error(text: impl Into<String>) -> Self {
        Self::new(code::SYNTAX_ERROR, text)
    }
    pub fn command_invalid(text: impl Into<String>) -> Self {
        Self::new(code::COMMAND_INVALID, text)
    }
    pub fn channel_error(text: impl Into<String>) -> Self {
        Self::new(code::CHANNEL_ERROR, text)
    }
    pub fn unexpected_frame(text: impl Into<String>) -> Self {
        Self::new(code::UNEXPECTED_FRAME, text)
    }
    pub fn not_allowed(text: impl Into<String>) -> Self {
        Self::new(code::NOT_ALLOWED, text)
    }
    pub fn not_implemented(text: impl Into<String>) -> Self {
        Self::new(code::NOT_IMPLEMENTED, text)
    }
    pub fn connection_forced(text: impl Into<String>) -> Self {
        Self::new(code::CONNECTION_FORCED, text)
    }

    /// Names the method being handled, unless a more precise one was already set.
    pub fn during(mut self, class_id: u16, method_id: u16) -> Self {
        if self.class_id == 0 && self.method_id == 0 {
            self.class_id = class_id;
            self.method_id = method_id;
        }
        self
    }

    /// Connection errors close the connection; the others close only the channel.
    pub fn is_connection_error(&self) -> bool {
        self.on_connection
            || !matches!(
                self.code,
                code::ACCESS_REFUSED
                    | code::NOT_FOUND
                    | code::RESOURCE_LOCKED
                    | code::PRECONDITION_FAILED
                    | code::NO_ROUTE
            )
    }

    /// `NAME - explanation`, cut to 255 bytes the way RabbitMQ cuts it (252 bytes and "...").
    pub fn reply_text(&self) -> String {
        let mut text = if self.explanation.is_empty() {
            code_name(self.code).to_owned()
        } else {
            format!("{} - {}", code_name(self.code), self.explanation)
        };
        if text.len() > 255 {
            let mut end = 252;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str("...");
        }
        text
    }

    /// The close method that reports this error: channel.close or connection.close.
    pub fn close_method(&self) -> Method {
        let (reply_code, reply_text) = (self.code, self.reply_text());
        if self.is_connection_error() {
            Method::ConnectionClose(ConnectionClose {
                reply_code,
                reply_text,
                class_id: self.class_id,
                method_id: self.method_id,
            })
        } else {
            Method::ChannelClose(ChannelClose {
                reply_code,
                reply_text,
                class_id: self.class_id,
                method_id: self.method_id,
            })
        }
    }
}

/// `received 'a' but current is 'b'`, or with `the value 'a' of type 't'` / `none` when only
/// one side has a value, as RabbitMQ words it.
fn describe_difference(received: &Option<FieldValue>, current: &Option<FieldValue>) -> String {
    let one = |v: &Option<FieldValue>| match v {
        Some(v) => format!("the value '{}' of type '{}'", v.describe(), v.type_name()),
        None => "none".to_owned(),
    };
    match (received, current) {
        (Some(r), Some(c)) => format!(
            "received '{}' but current is '{}'",
            r.describe(),
            c.describe()
        ),
        _ => format!("received {} but current is {}", one(received), one(current)),
    }
}

impl From<BrokerError> for AmqpError {
    /// The one mapping from broker outcomes to reply codes and RabbitMQ's texts.
    fn from(e: BrokerError) -> AmqpError {
        match &e {
            BrokerError::NotFound { .. } => AmqpError::not_found(e.to_string()),
            BrokerError::Inequivalent(i) => AmqpError::precondition_failed(format!(
                "{}: {}",
                e,
                describe_difference(&i.received, &i.current)
            )),
            BrokerError::ReservedName { .. } | BrokerError::DefaultExchange => {
                AmqpError::access_refused(e.to_string())
            }
            BrokerError::SystemExchange { .. } => AmqpError::access_refused(e.to_string()),
            BrokerError::InternalExchange { .. } | BrokerError::ExclusiveConsumer { .. } => {
                AmqpError::access_refused(e.to_string())
            }
            BrokerError::ExclusiveLocked { .. } => AmqpError::new(
                code::RESOURCE_LOCKED,
                format!(
                    "{e}. It could be originally declared on another connection or the \
                     exclusive property value does not match that of the original declaration."
                ),
            ),
            BrokerError::InUse { .. }
            | BrokerError::NotEmpty { .. }
            | BrokerError::InvalidArgument { .. }
            | BrokerError::InvalidProperty { .. }
            | BrokerError::ServerNamed(_)
            | BrokerError::InvalidExpiration { .. }
            | BrokerError::InvalidXMatch(_)
            | BrokerError::BindingInvalid(_)
            | BrokerError::QueueLimit { .. } => AmqpError::precondition_failed(e.to_string()),
            BrokerError::UnknownExchangeType(_) => AmqpError::command_invalid(e.to_string()),
            BrokerError::QuorumDeleteFlag { .. } => AmqpError::not_implemented(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::error::{EntityKind, Inequivalence};

    #[test]
    fn inequivalent_flag_reads_like_rabbitmq() {
        let e: AmqpError = BrokerError::Inequivalent(Box::new(Inequivalence {
            kind: EntityKind::Exchange,
            name: "x".into(),
            vhost: "/".into(),
            arg: "durable".into(),
            received: Some(FieldValue::Bool(true)),
            current: Some(FieldValue::Bool(false)),
        }))
        .into();
        assert_eq!(
            e.reply_text(),
            "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'x' in vhost '/': \
             received 'true' but current is 'false'"
        );
        assert!(!e.is_connection_error());
    }

    #[test]
    fn missing_argument_names_its_type() {
        let e: AmqpError = BrokerError::Inequivalent(Box::new(Inequivalence {
            kind: EntityKind::Queue,
            name: "q".into(),
            vhost: "/".into(),
            arg: "x-message-ttl".into(),
            received: Some(FieldValue::I32(1000)),
            current: None,
        }))
        .into();
        assert!(
            e.reply_text()
                .ends_with("received the value '1000' of type 'signedint' but current is none")
        );
    }

    #[test]
    fn long_texts_are_cut_to_255_bytes() {
        let e = AmqpError::not_found("x".repeat(400));
        let t = e.reply_text();
        assert_eq!(t.len(), 255);
        assert!(t.ends_with("..."));
    }

    #[test]
    fn scope_follows_the_code() {
        assert!(AmqpError::not_allowed("x").is_connection_error());
        assert!(!AmqpError::precondition_failed("x").is_connection_error());
        assert!(matches!(
            AmqpError::frame_error("x").close_method(),
            Method::ConnectionClose(_)
        ));
    }
}
