//! Connection negotiation: protocol header, start/start-ok with SASL, tune/tune-ok, open.
//!
//! Errors before connection.open completes mostly drop the socket without a close frame, as
//! RabbitMQ does; the exceptions (failed login for clients that asked for a close, unknown
//! vhost) send connection.close first.

use super::FrameIo;
use super::transport::{self, Transport};
use crate::broker::access::Grant;
use crate::broker::{Core, VHost};
use crate::error::{AmqpError, code};
use crate::protocol::methods::*;
use crate::protocol::wire::table_entries;
use crate::protocol::{FieldTable, FieldValue, Frame, Method, PROTOCOL_HEADER};
use bytes::{Buf, Bytes};
use std::net::SocketAddr;
use std::sync::Arc;

pub const CHANNEL_MAX: u16 = 2047;
pub const FRAME_MAX: u32 = 131_072;
pub const HEARTBEAT: u16 = 60;

/// What the handshake settled.
#[derive(Debug)]
pub struct Negotiated {
    pub vhost: Arc<VHost>,
    pub user: String,
    /// What the user may do in the vhost, looked up once at connection.open.
    pub grant: Grant,
    pub channel_max: u16,
    pub frame_max: u32,
    pub heartbeat: u16,
    /// The client handles server-sent basic.cancel.
    pub consumer_cancel_notify: bool,
    /// The client wants connection.blocked and connection.unblocked.
    pub connection_blocked: bool,
    /// What the client said of itself, for the management API.
    pub client_properties: crate::protocol::FieldTable,
    pub auth_mechanism: String,
}

/// Why the handshake ended without a connection.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad protocol header {0:?}")]
    BadHeader(Vec<u8>),
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("{0}")]
    Refused(String),
    /// Already reported to the client with connection.close.
    #[error("{0}")]
    Closed(AmqpError),
}

/// How long a refused login waits before the socket closes (RabbitMQ's SILENT_CLOSE_DELAY).
const LOGIN_FAILURE_DELAY: std::time::Duration = std::time::Duration::from_secs(3);

pub fn server_properties() -> FieldTable {
    let s = |v: &str| FieldValue::LongString(Bytes::copy_from_slice(v.as_bytes()));
    let mut caps = FieldTable::new();
    for cap in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "consumer_priorities",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ] {
        caps.insert(cap, FieldValue::Bool(true));
    }
    let mut props = FieldTable::new();
    props.insert("cluster_name", s(crate::broker::node::name()));
    props.insert("product", s("Warren"));
    props.insert("version", s(env!("CARGO_PKG_VERSION")));
    props.insert("platform", s("Rust"));
    props.insert("copyright", s("The Warren authors"));
    props.insert(
        "information",
        s("An AMQP 0-9-1 broker that speaks RabbitMQ's dialect"),
    );
    props.insert("capabilities", FieldValue::Table(caps));
    props
}

fn capability(props: &FieldTable, name: &str) -> bool {
    props
        .get("capabilities")
        .and_then(FieldValue::as_table)
        .and_then(|c| c.get(name))
        == Some(&FieldValue::Bool(true))
}

/// The AMQP 0-9 header old clients (RabbitMQ.Client 1.x/2.x) send; RabbitMQ serves them
/// as 0-9-1, whose methods are laid out the same for everything they use.
const LEGACY_0_9_HEADER: &[u8; 8] = b"AMQP\x01\x01\x00\x09";

/// Reads the protocol header; any other header gets ours back and the stream closes. Bytes
/// after the header stay in the buffer.
pub async fn read_protocol_header<T: Transport>(io: &mut FrameIo<T>) -> Result<(), HandshakeError> {
    let matches = |got: &[u8]| {
        let n = got.len().min(8);
        got[..n] == PROTOCOL_HEADER[..n] || got[..n] == LEGACY_0_9_HEADER[..n]
    };
    while io.buf.len() < 8 && matches(&io.buf) {
        if io.read_more().await? == 0 {
            return Err(HandshakeError::BadHeader(io.buf.to_vec()));
        }
    }
    if !matches(&io.buf) {
        let got = io.buf[..io.buf.len().min(8)].to_vec();
        transport::write_all(&mut io.io, PROTOCOL_HEADER).await?;
        io.io.shutdown().await;
        return Err(HandshakeError::BadHeader(got));
    }
    io.buf.advance(8);
    Ok(())
}

/// Credentials from a SASL response.
fn credentials(mechanism: &str, response: &[u8]) -> Option<(String, String)> {
    match mechanism {
        "PLAIN" => {
            let mut parts = response.split(|b| *b == 0);
            let (_authzid, user, pass) = (parts.next()?, parts.next()?, parts.next()?);
            if parts.next().is_some() {
                return None;
            }
            Some((
                String::from_utf8(user.to_vec()).ok()?,
                String::from_utf8(pass.to_vec()).ok()?,
            ))
        }
        "AMQPLAIN" => {
            // A table without its length prefix; some clients include the prefix anyway.
            let table = table_entries(response)
                .ok()
                .or_else(|| table_entries(response.get(4..)?).ok())?;
            let get = |k: &str| table.get(k).and_then(FieldValue::as_str).map(str::to_owned);
            Some((get("LOGIN")?, get("PASSWORD")?))
        }
        _ => None,
    }
}

/// What SASL EXTERNAL sees of a connection: RabbitMQ's rabbitmq_auth_mechanism_ssl with
/// `ssl_cert_login_from = common_name`, the user named by the client certificate's subject
/// CN (several CNs joined with ",", as RabbitMQ joins them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum External {
    /// Plain TCP: EXTERNAL is not offered.
    NotOffered,
    /// TLS without a client certificate: offered, as RabbitMQ offers it ("a more
    /// comprehensible error message" than a mechanism the client cannot find), and refused.
    NoCertificate,
    /// The verified client certificate's subject CN.
    Name(String),
    /// The verified client certificate has no CN in its subject.
    NoName,
}

impl External {
    /// From a TLS connection's verified client certificate (DER), if there is one.
    pub fn from_certificate(cert: Option<&[u8]>) -> External {
        match cert.map(crate::tls::subject_common_names) {
            None => External::NoCertificate,
            Some(Some(names)) if !names.is_empty() => External::Name(names.join(",")),
            Some(_) => External::NoName,
        }
    }
}

/// Why a login was refused.
enum Refusal {
    /// A mechanism we did not offer, or a response that cannot be read: the socket closes.
    Unusable(String),
    /// Wrong credentials: logged with this reason, and told to clients that asked for it.
    Failed(String),
}

/// The user a start-ok logs in as.
fn log_in(
    core: &Core,
    start_ok: &ConnectionStartOk,
    external: &External,
    from_loopback: bool,
) -> Result<String, Refusal> {
    let mechanism = start_ok.mechanism.as_str();
    if mechanism == "EXTERNAL" && *external != External::NotOffered {
        // RabbitMQ's texts: "EXTERNAL login refused: <reason>" in its log.
        let user = match external {
            External::Name(user) => user,
            External::NoCertificate => {
                return Err(Refusal::Failed(
                    "EXTERNAL login refused: connection peer presented no TLS (x.509) certificate"
                        .into(),
                ));
            }
            _ => {
                return Err(Refusal::Failed(
                    "EXTERNAL login refused: no name found".into(),
                ));
            }
        };
        return if core.user_may_connect(user, from_loopback) {
            Ok(user.clone())
        } else {
            Err(Refusal::Failed(format!(
                "EXTERNAL login refused: user '{user}' - invalid credentials"
            )))
        };
    }
    let login = match (mechanism, core.anonymous_login()) {
        // The response (a trace string, if anything) is not read, as RabbitMQ does not.
        ("ANONYMOUS", Some((user, password))) => Some((user.to_owned(), password.to_owned())),
        _ => credentials(mechanism, &start_ok.response),
    };
    let Some((user, password)) = login else {
        return Err(Refusal::Unusable(format!(
            "unknown authentication mechanism '{mechanism}' or malformed response"
        )));
    };
    if !core.authenticate(&user, &password, from_loopback) {
        return Err(Refusal::Failed(format!(
            "user '{user}' failed to log in with mechanism {mechanism}"
        )));
    }
    Ok(user)
}

/// The mechanisms connection.start offers, most preferred first. ANONYMOUS comes last, so
/// that a client taking the first mechanism it knows never logs in without credentials
/// by accident. (RabbitMQ's order follows its registry's hash table and varies between
/// releases and nodes: 3.10.8 on our test machine sends "AMQPLAIN PLAIN".)
fn offered_mechanisms(core: &Core, external: &External) -> Bytes {
    let mut offered = String::from("PLAIN AMQPLAIN");
    if *external != External::NotOffered {
        offered.push_str(" EXTERNAL");
    }
    if core.anonymous_login().is_some() {
        offered.push_str(" ANONYMOUS");
    }
    Bytes::from(offered)
}

/// Runs start, tune and open on a socket whose protocol header was accepted.
pub async fn negotiate<T: Transport>(
    io: &mut FrameIo<T>,
    core: &Core,
    peer: SocketAddr,
    external: &External,
) -> Result<Negotiated, HandshakeError> {
    io.send(Method::ConnectionStart(ConnectionStart {
        version_major: 0,
        version_minor: 9,
        server_properties: server_properties(),
        mechanisms: offered_mechanisms(core, external),
        locales: Bytes::from_static(b"en_US"),
    }))
    .await?;
    let Method::ConnectionStartOk(start_ok) = io.expect_method().await? else {
        return Err(HandshakeError::Refused(
            "expected connection.start-ok".into(),
        ));
    };
    let user = match log_in(core, &start_ok, external, peer.ip().is_loopback()) {
        Ok(user) => user,
        Err(Refusal::Unusable(reason)) => return Err(HandshakeError::Refused(reason)),
        Err(Refusal::Failed(reason)) => {
            if capability(&start_ok.client_properties, "authentication_failure_close") {
                let e = AmqpError::new(
                    code::ACCESS_REFUSED,
                    format!(
                        "Login was refused using authentication mechanism {}. For details see the broker logfile.",
                        start_ok.mechanism
                    ),
                )
                .on_connection();
                io.close_with(&e).await;
            } else {
                // RabbitMQ closes the socket without a word, 3 s later: a guesser pays for each try.
                tokio::time::sleep(LOGIN_FAILURE_DELAY).await;
            }
            return Err(HandshakeError::Refused(reason));
        }
    };
    io.send(Method::ConnectionTune(ConnectionTune {
        channel_max: CHANNEL_MAX,
        frame_max: FRAME_MAX,
        heartbeat: HEARTBEAT,
    }))
    .await?;
    let Method::ConnectionTuneOk(tune) = io.expect_method().await? else {
        return Err(HandshakeError::Refused(
            "expected connection.tune-ok".into(),
        ));
    };
    // The floor is the profile's: 4096 before RabbitMQ 4.1, 8192 from it on.
    let floor = core.profile().frame_max_floor();
    if tune.frame_max < floor || tune.frame_max > FRAME_MAX {
        return Err(HandshakeError::Refused(format!(
            "negotiated frame_max = {} is outside the allowed range ({floor}..={FRAME_MAX})",
            tune.frame_max
        )));
    }
    // 0 means "no limit", which is more than the offer, as RabbitMQ 4 rules.
    if tune.channel_max == 0 || tune.channel_max > CHANNEL_MAX {
        return Err(HandshakeError::Refused(format!(
            "negotiated channel_max = {} is higher than the maximum allowed value ({CHANNEL_MAX})",
            tune.channel_max
        )));
    }
    io.frame_max = tune.frame_max;
    let Method::ConnectionOpen(open) = io.expect_method().await? else {
        return Err(HandshakeError::Refused("expected connection.open".into()));
    };
    let Some(vhost) = core.vhost(&open.virtual_host) else {
        let e =
            AmqpError::not_allowed(format!("vhost {} not found", open.virtual_host)).during(10, 40);
        io.close_with(&e).await;
        return Err(HandshakeError::Closed(e));
    };
    if let Some(text) = core.connection_refusal(&user, &open.virtual_host) {
        let e = AmqpError::not_allowed(text).during(10, 40);
        io.close_with(&e).await;
        return Err(HandshakeError::Closed(e));
    }
    let Some(grant) = core.access().grant(&user, &open.virtual_host) else {
        let e = AmqpError::not_allowed(format!(
            "access to vhost '{}' refused for user '{user}'",
            open.virtual_host
        ))
        .during(10, 40);
        io.close_with(&e).await;
        return Err(HandshakeError::Closed(e));
    };
    io.send(Method::ConnectionOpenOk(ConnectionOpenOk {
        reserved_1: String::new(),
    }))
    .await?;
    Ok(Negotiated {
        vhost,
        user,
        grant,
        channel_max: tune.channel_max,
        frame_max: tune.frame_max,
        heartbeat: tune.heartbeat,
        consumer_cancel_notify: capability(&start_ok.client_properties, "consumer_cancel_notify"),
        connection_blocked: capability(&start_ok.client_properties, "connection.blocked"),
        client_properties: start_ok.client_properties,
        auth_mechanism: start_ok.mechanism,
    })
}

impl<T: Transport> FrameIo<T> {
    /// The next method on channel 0, skipping heartbeats; anything else ends the handshake.
    async fn expect_method(&mut self) -> Result<Method, HandshakeError> {
        loop {
            match self.read_frame().await? {
                Some(Frame::Heartbeat(0)) => continue,
                Some(Frame::Method(0, m)) => return Ok(m),
                Some(other) => {
                    // RabbitMQ names the frame, with its bytes, in a 505.
                    let mut payload = bytes::BytesMut::new();
                    let kind = match &other {
                        Frame::Method(_, m) => {
                            m.encode(&mut payload);
                            crate::protocol::frame::FRAME_METHOD
                        }
                        Frame::Header(_, h) => {
                            crate::protocol::ContentHeader::encode_raw(
                                &mut payload,
                                h.class_id,
                                h.body_size,
                                &h.raw_properties,
                            );
                            crate::protocol::frame::FRAME_HEADER
                        }
                        Frame::Body(_, b) => {
                            payload.extend_from_slice(b);
                            crate::protocol::frame::FRAME_BODY
                        }
                        Frame::Heartbeat(_) => crate::protocol::frame::FRAME_HEARTBEAT,
                    };
                    let e = AmqpError::unexpected_frame(crate::protocol::frame::describe_frame(
                        kind, &payload,
                    ));
                    self.close_with(&e).await;
                    return Err(HandshakeError::Closed(e));
                }
                None => return Err(HandshakeError::Refused("client closed the socket".into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_amqplain_responses() {
        assert_eq!(
            credentials("PLAIN", b"\0guest\0pw"),
            Some(("guest".into(), "pw".into()))
        );
        assert_eq!(credentials("PLAIN", b"guest"), None);
        let mut t = FieldTable::new();
        t.insert("LOGIN", FieldValue::LongString(Bytes::from_static(b"u")));
        t.insert("PASSWORD", FieldValue::LongString(Bytes::from_static(b"p")));
        let mut raw = bytes::BytesMut::new();
        t.encode(&mut raw);
        assert_eq!(
            credentials("AMQPLAIN", &raw[4..]),
            Some(("u".into(), "p".into()))
        );
        assert_eq!(
            credentials("AMQPLAIN", &raw),
            Some(("u".into(), "p".into()))
        );
        assert_eq!(credentials("CRAM-MD5", b""), None);
    }
}
