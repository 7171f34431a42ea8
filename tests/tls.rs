//! amqps: TLS 1.2 and 1.3, optional and required client certificates, SASL EXTERNAL from the
//! client certificate's CN, and garbage on the TLS port. Every certificate is made here with
//! rcgen: a CA, a server certificate for localhost and 127.0.0.1, and client certificates.
//!
//! lapin (with its rustls feature and our CA) is the stock client; the tests that need to pick
//! the TLS version or look at connection.start drive AMQP by hand over tokio-rustls.

mod common;

use bytes::BytesMut;
use common::within;
use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions};
use lapin::tcp::OwnedTLSConfig;
use lapin::{BasicProperties, ConnectionProperties};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use warren::Broker;
use warren::protocol::methods::*;
use warren::protocol::{FieldTable, FieldValue, Frame, Method, PROTOCOL_HEADER};
use warren::tls::{TlsSettings, Verify};

/// A certificate and its key, as PEM.
struct Identity {
    cert: String,
    key: String,
}

/// A test CA that issues server and client certificates.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name.push(DnType::CommonName, name);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Pki { ca }
    }

    fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    fn issue(&self, names: &[&str], cn: Option<&str>, usage: ExtendedKeyUsagePurpose) -> Identity {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Warren tests");
        if let Some(cn) = cn {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Identity {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }

    fn server(&self) -> Identity {
        self.issue(
            &["localhost", "127.0.0.1"],
            Some("localhost"),
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    fn client(&self, cn: Option<&str>) -> Identity {
        self.issue(&[], cn, ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// A broker with amqps whose client CA is `pki`'s.
fn tls_broker(pki: &Pki, verify: Verify) -> Broker {
    common::init_logs();
    let server = pki.server();
    let settings = TlsSettings::from_pem(server.cert.as_bytes(), server.key.as_bytes())
        .unwrap()
        .client_ca_pem(pki.ca_pem().as_bytes())
        .unwrap()
        .verify(verify);
    Broker::builder().tls(settings).start().unwrap()
}

fn client_config(
    pki: &Pki,
    versions: &[&'static SupportedProtocolVersion],
    identity: Option<&Identity>,
) -> Arc<ClientConfig> {
    // ring is the provider the broker and lapin use; its constructor is deprecated in favour
    // of aws-lc-rs, which only adds post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(pki.ca_pem().as_bytes()) {
        roots.add(ca.unwrap()).unwrap();
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let chain = CertificateDer::pem_slice_iter(id.cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_slice(id.key.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    Arc::new(config)
}

const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

async fn tls_connect(
    broker: &Broker,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(broker.tls_addr().unwrap()).await?;
    let name = ServerName::try_from("localhost").unwrap();
    within(TlsConnector::from(config).connect(name, tcp)).await
}

/// AMQP by hand over any stream, with the crate's codec.
struct Amqp<S> {
    s: S,
    buf: BytesMut,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Amqp<S> {
    fn new(s: S) -> Self {
        Amqp {
            s,
            buf: BytesMut::new(),
        }
    }

    async fn send(&mut self, m: Method) {
        let mut out = BytesMut::new();
        Frame::Method(0, m).encode(&mut out);
        within(self.s.write_all(&out)).await.unwrap();
    }

    /// The next method on channel 0, or the error or end of stream that came instead.
    async fn method(&mut self) -> Result<Method, String> {
        loop {
            match Frame::decode(&mut self.buf, 0) {
                Ok(Some(Frame::Method(0, m))) => return Ok(m),
                Ok(Some(Frame::Heartbeat(_))) => continue,
                Ok(Some(other)) => return Err(format!("unexpected frame {other:?}")),
                Ok(None) => {}
                Err(e) => return Err(format!("bad frame: {e}")),
            }
            match within(self.s.read_buf(&mut self.buf)).await {
                Ok(0) => return Err("end of stream".into()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// Sends the protocol header; connection.start's mechanisms.
    async fn start(&mut self) -> Result<String, String> {
        within(self.s.write_all(PROTOCOL_HEADER)).await.unwrap();
        match self.method().await? {
            Method::ConnectionStart(s) => Ok(String::from_utf8_lossy(&s.mechanisms).into()),
            other => Err(format!("expected connection.start, got {other:?}")),
        }
    }

    /// Logs in with `mechanism` and opens vhost "/": Ok, or the connection.close (or error)
    /// that came instead.
    async fn log_in(&mut self, mechanism: &str, response: &[u8]) -> Result<(), String> {
        let mut caps = FieldTable::new();
        caps.insert("authentication_failure_close", FieldValue::Bool(true));
        let mut props = FieldTable::new();
        props.insert("capabilities", FieldValue::Table(caps));
        self.send(Method::ConnectionStartOk(ConnectionStartOk {
            client_properties: props,
            mechanism: mechanism.into(),
            response: bytes::Bytes::copy_from_slice(response),
            locale: "en_US".into(),
        }))
        .await;
        let tune = match self.method().await? {
            Method::ConnectionTune(t) => t,
            Method::ConnectionClose(c) => return Err(format!("{} {}", c.reply_code, c.reply_text)),
            other => return Err(format!("expected connection.tune, got {other:?}")),
        };
        self.send(Method::ConnectionTuneOk(ConnectionTuneOk {
            channel_max: tune.channel_max,
            frame_max: tune.frame_max,
            heartbeat: 0,
        }))
        .await;
        self.send(Method::ConnectionOpen(ConnectionOpen {
            virtual_host: "/".into(),
            ..Default::default()
        }))
        .await;
        match self.method().await? {
            Method::ConnectionOpenOk(_) => Ok(()),
            other => Err(format!("expected connection.open-ok, got {other:?}")),
        }
    }

    async fn close(&mut self) {
        self.send(Method::ConnectionClose(ConnectionClose {
            reply_code: 200,
            reply_text: "bye".into(),
            class_id: 0,
            method_id: 0,
        }))
        .await;
        assert!(matches!(
            self.method().await,
            Ok(Method::ConnectionCloseOk(_))
        ));
    }
}

#[tokio::test]
async fn lapin_over_amqps_moves_small_and_large_messages() {
    let pki = Pki::new("Warren test CA");
    let broker = tls_broker(&pki, Verify::Peer);
    let port = broker.tls_addr().unwrap().port();
    let uri = format!("amqps://guest:guest@localhost:{port}/%2f");
    let tls = OwnedTLSConfig {
        identity: None,
        cert_chain: Some(pki.ca_pem()),
    };
    let conn = within(lapin::Connection::connect_with_config(
        &uri,
        ConnectionProperties::default(),
        tls,
    ))
    .await
    .expect("lapin connects over TLS");
    let ch = conn.create_channel().await.unwrap();
    ch.queue_declare(
        "tls",
        QueueDeclareOptions::default(),
        lapin::types::FieldTable::default(),
    )
    .await
    .unwrap();
    // Larger than a TLS record, than rustls' 64 KiB buffer and than a frame: the output
    // waits for the socket and leaves in pieces.
    let bodies: Vec<Vec<u8>> = (0..40u8)
        .map(|i| {
            let len = if i % 2 == 0 { 16 } else { 300_000 };
            (0..len).map(|j| (j as u8).wrapping_add(i)).collect()
        })
        .collect();
    for body in &bodies {
        ch.basic_publish(
            "",
            "tls",
            BasicPublishOptions::default(),
            body,
            BasicProperties::default(),
        )
        .await
        .unwrap();
    }
    for body in &bodies {
        let got = within(ch.basic_get("tls", BasicGetOptions { no_ack: true }))
            .await
            .unwrap()
            .expect("a message");
        assert!(
            got.delivery.data == *body,
            "bodies arrive whole and in order"
        );
    }
    conn.close(200, "bye").await.unwrap();
}

#[tokio::test]
async fn tls_1_2_and_1_3_are_both_negotiated() {
    let pki = Pki::new("Warren test CA");
    let broker = tls_broker(&pki, Verify::None);
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let s = tls_connect(&broker, client_config(&pki, &[version], None))
            .await
            .expect("TLS handshake");
        assert_eq!(s.get_ref().1.protocol_version(), Some(version.version));
        let mut amqp = Amqp::new(s);
        let mechanisms = amqp.start().await.unwrap();
        assert_eq!(
            mechanisms, "PLAIN AMQPLAIN EXTERNAL ANONYMOUS",
            "EXTERNAL offered on every TLS connection, as RabbitMQ offers it"
        );
        amqp.log_in("PLAIN", b"\0guest\0guest").await.unwrap();
        amqp.close().await;
    }
}

#[tokio::test]
async fn a_required_client_certificate_must_be_sent_and_trusted() {
    let pki = Pki::new("Warren test CA");
    let broker = tls_broker(&pki, Verify::PeerRequired);
    let stranger = Pki::new("Someone else's CA");
    let untrusted = stranger.client(Some("guest"));
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        for identity in [None, Some(&untrusted)] {
            let refused =
                match tls_connect(&broker, client_config(&pki, &[version], identity)).await {
                    // TLS 1.2 fails in the handshake; with 1.3 the client's handshake ends before
                    // the server has checked its certificate, and the alert comes on the first read.
                    Err(_) => true,
                    Ok(s) => Amqp::new(s).start().await.is_err(),
                };
            assert!(refused, "{version:?}, identity {}", identity.is_some());
        }
        let trusted = pki.client(Some("guest"));
        let s = tls_connect(&broker, client_config(&pki, &[version], Some(&trusted)))
            .await
            .unwrap();
        let mut amqp = Amqp::new(s);
        amqp.start().await.unwrap();
        amqp.log_in("PLAIN", b"\0guest\0guest").await.unwrap();
        amqp.close().await;
    }
}

#[tokio::test]
async fn external_logs_in_as_the_certificates_common_name() {
    let pki = Pki::new("Warren test CA");
    let broker = tls_broker(&pki, Verify::Peer);
    let refused = "403 ACCESS_REFUSED - Login was refused using authentication mechanism EXTERNAL. For details see the broker logfile.";

    let guest = pki.client(Some("guest"));
    let s = tls_connect(&broker, client_config(&pki, BOTH, Some(&guest)))
        .await
        .unwrap();
    let mut amqp = Amqp::new(s);
    assert_eq!(
        amqp.start().await.unwrap(),
        "PLAIN AMQPLAIN EXTERNAL ANONYMOUS"
    );
    amqp.log_in("EXTERNAL", b"").await.unwrap();
    amqp.close().await;

    for cn in [Some("nobody"), None] {
        let id = pki.client(cn);
        let s = tls_connect(&broker, client_config(&pki, BOTH, Some(&id)))
            .await
            .unwrap();
        let mut amqp = Amqp::new(s);
        assert_eq!(
            amqp.start().await.unwrap(),
            "PLAIN AMQPLAIN EXTERNAL ANONYMOUS"
        );
        assert_eq!(amqp.log_in("EXTERNAL", b"").await, Err(refused.into()));
    }

    // Without a client certificate EXTERNAL is offered (RabbitMQ's
    // rabbit_auth_mechanism_ssl:should_offer/1) and refused.
    let s = tls_connect(&broker, client_config(&pki, BOTH, None))
        .await
        .unwrap();
    let mut amqp = Amqp::new(s);
    assert_eq!(
        amqp.start().await.unwrap(),
        "PLAIN AMQPLAIN EXTERNAL ANONYMOUS"
    );
    assert_eq!(amqp.log_in("EXTERNAL", b"").await, Err(refused.into()));

    // Nor on plain TCP.
    let tcp = TcpStream::connect(broker.addr()).await.unwrap();
    let mut amqp = Amqp::new(tcp);
    assert_eq!(amqp.start().await.unwrap(), "PLAIN AMQPLAIN ANONYMOUS");
    assert!(amqp.log_in("EXTERNAL", b"").await.is_err());
}

#[tokio::test]
async fn plaintext_on_the_tls_port_is_refused() {
    let pki = Pki::new("Warren test CA");
    let broker = tls_broker(&pki, Verify::None);
    for garbage in [
        &PROTOCOL_HEADER[..],
        b"GET / HTTP/1.1\r\n\r\n",
        &[0x16, 3, 1, 0xff, 0xff, 1],
    ] {
        let mut tcp = TcpStream::connect(broker.tls_addr().unwrap())
            .await
            .unwrap();
        tcp.write_all(garbage).await.unwrap();
        let mut got = Vec::new();
        // At most a TLS alert, then the end of the stream (or a reset); never AMQP.
        let _ = within(tcp.read_to_end(&mut got)).await;
        assert!(!got.starts_with(b"AMQP"), "{got:?}");
        assert!(got.is_empty() || got[0] == 0x15, "an alert record: {got:?}");
    }
    // A client that connects and leaves at once, mid-handshake.
    drop(
        TcpStream::connect(broker.tls_addr().unwrap())
            .await
            .unwrap(),
    );
    // The broker serves on.
    let s = tls_connect(&broker, client_config(&pki, BOTH, None))
        .await
        .unwrap();
    let mut amqp = Amqp::new(s);
    amqp.start().await.unwrap();
    amqp.log_in("PLAIN", b"\0guest\0guest").await.unwrap();
    amqp.close().await;
}

#[test]
fn unusable_certificate_files_stop_the_broker_at_startup() {
    let dir = std::env::temp_dir().join(format!("warren-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = Pki::new("Warren test CA");
    let server = pki.server();
    let (cert, key, other_key) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("k2.pem"),
    );
    std::fs::write(&cert, &server.cert).unwrap();
    std::fs::write(&key, &server.key).unwrap();
    std::fs::write(&other_key, pki.client(None).key).unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_warren"))
            .args([
                "--in-memory",
                "--no-management",
                "--no-prometheus",
                "--listen",
                "127.0.0.1:0",
                "--tls-listen",
                "127.0.0.1:0",
            ])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (missing, empty) = (dir.join("missing.pem"), dir.join("empty.pem"));
    std::fs::write(&empty, "").unwrap();
    let cases: [(&[&std::ffi::OsStr], &str); 4] = [
        (
            &[
                "--tls-cert".as_ref(),
                missing.as_os_str(),
                "--tls-key".as_ref(),
                key.as_os_str(),
            ],
            "cannot read TLS certificate file",
        ),
        (
            &[
                "--tls-cert".as_ref(),
                cert.as_os_str(),
                "--tls-key".as_ref(),
                empty.as_os_str(),
            ],
            "no private key in TLS key file",
        ),
        (
            &[
                "--tls-cert".as_ref(),
                cert.as_os_str(),
                "--tls-key".as_ref(),
                other_key.as_os_str(),
            ],
            "cannot be used together",
        ),
        (
            &[
                "--tls-cert".as_ref(),
                cert.as_os_str(),
                "--tls-key".as_ref(),
                key.as_os_str(),
                "--tls-verify".as_ref(),
                "peer-required".as_ref(),
            ],
            "needs a client CA",
        ),
    ];
    for (args, expected) in cases {
        let (code, stderr) = run(args);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(expected), "{expected:?} in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
