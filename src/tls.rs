//! TLS settings of the amqps listeners: the server's certificate chain and key, the CA that
//! client certificates are checked against, and whether one is asked for or required. They
//! become one rustls `ServerConfig` shared by every connection of those listeners; the
//! transport that uses it is `connection::tls`.
//!
//! The crypto provider is rustls' ring, named explicitly rather than taken from the process
//! default: ring builds in seconds with nothing but a C compiler (aws-lc-rs builds here too,
//! but compiles all of AWS-LC), and it is the provider lapin's TLS stack enables, so the test
//! binaries hold one provider and rustls' process default stays unambiguous. What ring lacks
//! is post-quantum key exchange; moving to aws-lc-rs is this one provider line.

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use std::path::Path;
use std::sync::Arc;

/// Whether clients are asked for a certificate: RabbitMQ's `ssl_options.verify` and
/// `ssl_options.fail_if_no_peer_cert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Verify {
    /// No client certificate is asked for (`verify_none`).
    #[default]
    None,
    /// A client certificate is asked for and, if sent, must verify against the client CA
    /// (`verify_peer`, `fail_if_no_peer_cert = false`).
    Peer,
    /// A client certificate that verifies against the client CA is required (`verify_peer`,
    /// `fail_if_no_peer_cert = true`).
    PeerRequired,
}

/// A certificate, key or CA that cannot be used, with the file or the reason.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

/// What an amqps listener needs; see [`TlsSettings::server_config`].
#[derive(Debug)]
pub struct TlsSettings {
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Vec<CertificateDer<'static>>,
    verify: Option<Verify>,
}

impl Clone for TlsSettings {
    fn clone(&self) -> Self {
        TlsSettings {
            cert_chain: self.cert_chain.clone(),
            key: self.key.clone_key(),
            client_ca: self.client_ca.clone(),
            verify: self.verify,
        }
    }
}

impl TlsSettings {
    /// The server's certificate chain (its own certificate first) and private key (PKCS#8,
    /// PKCS#1 or SEC1), as PEM.
    pub fn from_pem(cert_chain: &[u8], key: &[u8]) -> Result<Self, TlsError> {
        Ok(TlsSettings {
            cert_chain: certificates(cert_chain, "the certificate chain")?,
            key: private_key(key, "the private key")?,
            client_ca: Vec::new(),
            verify: None,
        })
    }

    /// As [`from_pem`](Self::from_pem), from files.
    pub fn from_files(cert_chain: &Path, key: &Path) -> Result<Self, TlsError> {
        let what = format!("TLS certificate file {}", cert_chain.display());
        let cert_chain = certificates(&read(cert_chain, &what)?, &what)?;
        let what = format!("TLS key file {}", key.display());
        let key = private_key(&read(key, &what)?, &what)?;
        Ok(TlsSettings {
            cert_chain,
            key,
            client_ca: Vec::new(),
            verify: None,
        })
    }

    /// The CA certificates (PEM) that client certificates must chain to. Unless
    /// [`verify`](Self::verify) says otherwise, a client certificate is then asked for and
    /// verified, but not required ([`Verify::Peer`]).
    pub fn client_ca_pem(mut self, ca: &[u8]) -> Result<Self, TlsError> {
        self.client_ca = certificates(ca, "the client CA")?;
        Ok(self)
    }

    /// As [`client_ca_pem`](Self::client_ca_pem), from a file.
    pub fn client_ca_file(mut self, ca: &Path) -> Result<Self, TlsError> {
        let what = format!("TLS CA file {}", ca.display());
        self.client_ca = certificates(&read(ca, &what)?, &what)?;
        Ok(self)
    }

    pub fn verify(mut self, verify: Verify) -> Self {
        self.verify = Some(verify);
        self
    }

    /// The verification in force: as set, else `Peer` with a client CA and `None` without.
    pub fn verification(&self) -> Verify {
        match self.verify {
            Some(v) => v,
            None if self.client_ca.is_empty() => Verify::None,
            None => Verify::Peer,
        }
    }

    /// The rustls configuration: TLS 1.3 and 1.2, the key checked against the certificate.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        // rustls 0.23.48 deprecates ring's provider for lacking post-quantum key exchange
        // (X25519MLKEM768); everything else is there, and see the module doc for why ring.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError(format!("TLS setup failed: {e}")))?;
        let builder = match self.verification() {
            Verify::None => builder.with_no_client_auth(),
            verify => builder.with_client_cert_verifier(self.client_verifier(verify, provider)?),
        };
        let config = builder
            .with_single_cert(self.cert_chain.clone(), self.key.clone_key())
            .map_err(|e| {
                TlsError(format!(
                    "the TLS certificate and key cannot be used together: {e}"
                ))
            })?;
        Ok(Arc::new(config))
    }

    fn client_verifier(
        &self,
        verify: Verify,
        provider: Arc<CryptoProvider>,
    ) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsError> {
        if self.client_ca.is_empty() {
            return Err(TlsError(
                "verifying client certificates needs a client CA (--tls-ca)".into(),
            ));
        }
        let mut roots = rustls::RootCertStore::empty();
        for ca in &self.client_ca {
            roots
                .add(ca.clone())
                .map_err(|e| TlsError(format!("the client CA is not usable: {e}")))?;
        }
        let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let builder = match verify {
            Verify::PeerRequired => builder,
            _ => builder.allow_unauthenticated(),
        };
        builder
            .build()
            .map_err(|e| TlsError(format!("the client CA is not usable: {e}")))
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError(format!("cannot read {what}: {e}")))
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError(format!("{what} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "no certificate in {what} (expected PEM \"BEGIN CERTIFICATE\" sections)"
        )));
    }
    Ok(certs)
}

fn private_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    use rustls::pki_types::pem::Error;
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        Error::NoItemsFound => TlsError(format!(
            "no private key in {what} (expected PEM \"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\")"
        )),
        e => TlsError(format!("{what} is not valid PEM: {e}")),
    })
}

/// The common names (CN) in a DER certificate's subject, in order; `None` if the certificate
/// cannot be read that far. Used for SASL EXTERNAL, on certificates rustls has verified.
pub fn subject_common_names(cert: &[u8]) -> Option<Vec<String>> {
    const SEQUENCE: u8 = 0x30;
    const SET: u8 = 0x31;
    const OID: u8 = 0x06;
    const VERSION: u8 = 0xA0;
    const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03]; // 2.5.4.3
    let (SEQUENCE, cert, _) = der(cert)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = der(cert)? else {
        return None;
    };
    // [0] version (optional), serial number, signature algorithm, issuer, validity, subject.
    let (tag, _, mut rest) = der(tbs)?;
    if tag == VERSION {
        rest = der(rest)?.2;
    }
    for _ in 0..3 {
        rest = der(rest)?.2;
    }
    let (SEQUENCE, mut subject, _) = der(rest)? else {
        return None;
    };
    let mut names = Vec::new();
    while !subject.is_empty() {
        let (SET, mut rdn, next) = der(subject)? else {
            return None;
        };
        subject = next;
        while !rdn.is_empty() {
            let (SEQUENCE, attribute, next) = der(rdn)? else {
                return None;
            };
            rdn = next;
            let (OID, oid, value) = der(attribute)? else {
                return None;
            };
            if oid == COMMON_NAME {
                let (kind, text, _) = der(value)?;
                names.push(directory_string(kind, text)?);
            }
        }
    }
    Some(names)
}

/// One DER element: its tag, its contents and what follows it.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None; // multi-byte tags do not occur in the fields read here
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

/// An X.520 DirectoryString (or IA5String) as text.
fn directory_string(kind: u8, text: &[u8]) -> Option<String> {
    match kind {
        // UTF8String, PrintableString, IA5String
        0x0c | 0x13 | 0x16 => String::from_utf8(text.to_vec()).ok(),
        // TeletexString, read as Latin-1 as most software does
        0x14 => Some(text.iter().map(|&b| char::from(b)).collect()),
        // BMPString: UTF-16 big-endian
        0x1e => {
            let units: Vec<u16> = text
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, DnValue, KeyPair};

    fn cert_with(subject: &[(DnType, DnValue)]) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (t, v) in subject {
            params.distinguished_name.push(t.clone(), v.clone());
        }
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn common_names_in_each_string_type() {
        let der = cert_with(&[
            (
                DnType::OrganizationName,
                DnValue::Utf8String("Warren".into()),
            ),
            (DnType::CommonName, DnValue::Utf8String("álice".into())),
        ]);
        assert_eq!(subject_common_names(&der), Some(vec!["álice".to_string()]));
        let printable = DnValue::PrintableString("bob".try_into().unwrap());
        let der = cert_with(&[(DnType::CommonName, printable)]);
        assert_eq!(subject_common_names(&der), Some(vec!["bob".to_string()]));
        let bmp = DnValue::BmpString("carol".try_into().unwrap());
        let der = cert_with(&[(DnType::CommonName, bmp)]);
        assert_eq!(subject_common_names(&der), Some(vec!["carol".to_string()]));
        let teletex = DnValue::TeletexString("dave".try_into().unwrap());
        let der = cert_with(&[(DnType::CommonName, teletex)]);
        assert_eq!(subject_common_names(&der), Some(vec!["dave".to_string()]));
    }

    #[test]
    fn no_common_name_and_broken_input() {
        let der = cert_with(&[(DnType::OrganizationName, DnValue::Utf8String("x".into()))]);
        assert_eq!(subject_common_names(&der), Some(vec![]));
        for cut in 0..der.len() {
            // A truncated certificate never panics; most cuts cannot be read at all.
            let _ = subject_common_names(&der[..cut]);
        }
        assert_eq!(subject_common_names(b""), None);
        assert_eq!(subject_common_names(b"\x30\x84\xff\xff\xff\xff"), None);
    }

    #[test]
    fn pem_errors_are_sentences() {
        let e = TlsSettings::from_pem(b"", b"").unwrap_err().to_string();
        assert!(
            e.starts_with("no certificate in the certificate chain"),
            "{e}"
        );
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        let cert = params.self_signed(&key).unwrap().pem();
        let e = TlsSettings::from_pem(cert.as_bytes(), cert.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("no private key in the private key"), "{e}");
        let other = KeyPair::generate().unwrap();
        let settings =
            TlsSettings::from_pem(cert.as_bytes(), other.serialize_pem().as_bytes()).unwrap();
        let e = settings.server_config().unwrap_err().to_string();
        assert!(e.contains("cannot be used together"), "{e}");
        let settings =
            TlsSettings::from_pem(cert.as_bytes(), key.serialize_pem().as_bytes()).unwrap();
        assert!(settings.server_config().is_ok());
        let e = settings
            .verify(Verify::PeerRequired)
            .server_config()
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a client CA"), "{e}");
        let e = TlsSettings::from_files(Path::new("/nonexistent/cert.pem"), Path::new("k"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("cannot read TLS certificate file /nonexistent/cert.pem: "),
            "{e}"
        );
    }
}
