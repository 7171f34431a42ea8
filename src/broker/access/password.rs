//! Passwords as RabbitMQ stores them (`rabbit_password`): base64 of a 4-byte random salt
//! followed by hash(salt ++ password), with SHA-256 by default and SHA-512 or MD5 for users
//! imported from a RabbitMQ whose definitions used them. A user exported from RabbitMQ logs
//! in here with the same password, and the other way round.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use md5::Md5;
use sha2::{Digest, Sha256, Sha512};

/// The hashing algorithm, by RabbitMQ's module name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hashing {
    Sha256,
    Sha512,
    Md5,
}

impl Hashing {
    pub fn from_rabbitmq(name: &str) -> Option<Hashing> {
        match name {
            "rabbit_password_hashing_sha256" => Some(Hashing::Sha256),
            "rabbit_password_hashing_sha512" => Some(Hashing::Sha512),
            "rabbit_password_hashing_md5" => Some(Hashing::Md5),
            _ => None,
        }
    }

    pub fn rabbitmq_name(self) -> &'static str {
        match self {
            Hashing::Sha256 => "rabbit_password_hashing_sha256",
            Hashing::Sha512 => "rabbit_password_hashing_sha512",
            Hashing::Md5 => "rabbit_password_hashing_md5",
        }
    }

    fn digest(self, salt: &[u8], password: &[u8]) -> Vec<u8> {
        fn of<D: Digest>(salt: &[u8], password: &[u8]) -> Vec<u8> {
            let mut d = D::new();
            d.update(salt);
            d.update(password);
            d.finalize().to_vec()
        }
        match self {
            Hashing::Sha256 => of::<Sha256>(salt, password),
            Hashing::Sha512 => of::<Sha512>(salt, password),
            Hashing::Md5 => of::<Md5>(salt, password),
        }
    }
}

/// A stored password: the salted hash, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHash {
    pub hashing: Hashing,
    /// salt (4 bytes) ++ digest.
    bytes: Vec<u8>,
}

const SALT_LEN: usize = 4;

impl PasswordHash {
    /// Hashes `password` with a fresh salt (SHA-256, RabbitMQ's default).
    pub fn new(password: &str) -> PasswordHash {
        let mut salt = [0u8; SALT_LEN];
        if getrandom::fill(&mut salt).is_err() {
            // No entropy source: a fixed salt still hashes, it only makes equal passwords
            // look equal. Logged, never fatal.
            tracing::warn!("no random source for a password salt");
        }
        let mut bytes = salt.to_vec();
        bytes.extend(Hashing::Sha256.digest(&salt, password.as_bytes()));
        PasswordHash {
            hashing: Hashing::Sha256,
            bytes,
        }
    }

    /// No password: no password logs the user in (RabbitMQ's `clear_password`).
    pub fn none() -> PasswordHash {
        PasswordHash {
            hashing: Hashing::Sha256,
            bytes: Vec::new(),
        }
    }

    /// The hash of a random password nobody is told, as RabbitMQ gives a user created
    /// without one.
    pub fn unknown() -> PasswordHash {
        let mut secret = [0u8; 24];
        let _ = getrandom::fill(&mut secret);
        PasswordHash::new(&STANDARD.encode(secret))
    }

    /// A hash as RabbitMQ's definitions carry it (`password_hash`, base64); None when it is
    /// not base64 or too short to hold a salt and a digest. An empty hash is a user without
    /// a password (who can log in only by other means).
    pub fn from_base64(hashing: Hashing, text: &str) -> Option<PasswordHash> {
        let bytes = STANDARD.decode(text).ok()?;
        if !bytes.is_empty() && bytes.len() <= SALT_LEN {
            return None;
        }
        Some(PasswordHash { hashing, bytes })
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.bytes)
    }

    /// Whether `password` is the one hashed, compared in constant time.
    pub fn verify(&self, password: &str) -> bool {
        if self.bytes.len() <= SALT_LEN {
            return false;
        }
        let (salt, want) = self.bytes.split_at(SALT_LEN);
        let got = self.hashing.digest(salt, password.as_bytes());
        constant_time_eq(&got, want)
    }

    /// A hash that no password matches, so that checking an unknown user costs what
    /// checking a known one does (no timing oracle between the two).
    pub fn decoy() -> &'static PasswordHash {
        static DECOY: std::sync::OnceLock<PasswordHash> = std::sync::OnceLock::new();
        DECOY.get_or_init(|| PasswordHash {
            hashing: Hashing::Sha256,
            bytes: vec![0; SALT_LEN + 32],
        })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_hash_verifies_its_password_only() {
        let h = PasswordHash::new("s3cret");
        assert!(h.verify("s3cret"));
        assert!(!h.verify("s3cre"));
        assert!(!h.verify(""));
        let again = PasswordHash::from_base64(Hashing::Sha256, &h.to_base64()).unwrap();
        assert!(again.verify("s3cret"));
        assert!(!PasswordHash::decoy().verify(""));
    }

    #[test]
    fn rabbitmq_hashes_verify() {
        // The hash RabbitMQ's docs (passwords.md) compute for "test12" with salt 908DC60A.
        let h = PasswordHash::from_base64(
            Hashing::Sha256,
            "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR",
        )
        .unwrap();
        assert!(h.verify("test12"));
        assert!(!h.verify("test13"));
        assert_eq!(PasswordHash::from_base64(Hashing::Sha256, "AAAA"), None);
    }
}
