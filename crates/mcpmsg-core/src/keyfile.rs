//! The on-disk form of an identity's secrets. Pure: text in, text out; the
//! CLI does the I/O (new files, mode 0600, atomic rename).
//!
//! A key file is UTF-8 text: `#` header lines saying what it is, then
//! `name: value` lines. With a passphrase, the `name: value` body is sealed
//! with ChaCha20-Poly1305 under a key from Argon2id (RFC 9106, second
//! recommended parameter set: 64 MiB, 3 passes), and the file says so.
//!
//! ```text
//! # mcpmsg secret keys for alice. KEEP THIS FILE SECRET.
//! mcpmsg-keys: v1
//! client_id: alice
//! signing: <b64 Ed25519 seed>
//! sealing: <b64 X25519 secret>
//! next_signing: <b64 Ed25519 seed>         (absent when kept in a separate file)
//! old_sealing: <b64 X25519 secret> <expires_at ms>   (repeatable)
//! ```

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use zeroize::Zeroizing;

use crate::crypto::{b64, random_bytes, SealingSecret, SigningSecret};
use crate::protocol::check_client_id;

const PLAIN: &str = "v1";
const ENCRYPTED: &str = "v1-encrypted";
/// RFC 9106 §4, second recommended option (memory-constrained).
const M_KIB: u32 = 64 * 1024;
const T_COST: u32 = 3;
const P_COST: u32 = 1;
/// A file may not ask for more than 1 GiB of memory to unlock.
const MAX_M_KIB: u32 = 1024 * 1024;

/// Why a key file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file is passphrase-protected and none was given.
    #[error("the key file is passphrase-protected: give the passphrase")]
    NeedsPassphrase,
    /// The passphrase does not unlock it (or the file was altered).
    #[error("the passphrase does not unlock the key file (or the file was altered)")]
    WrongPassphrase,
    /// A line is not what the format expects. Never quotes the value.
    #[error("line {line}: {what}")]
    Malformed {
        /// 1-based line number (in the decrypted body for protected files).
        line: usize,
        /// What was expected.
        what: String,
    },
    /// A required entry is absent.
    #[error("the key file has no '{0}' entry")]
    Missing(&'static str),
}

/// An old sealing secret kept to open messages sealed before a rotation.
pub struct OldSealing {
    /// The secret.
    pub secret: SealingSecret,
    /// Unix ms after which it is deleted.
    pub expires_at: u64,
}

/// The secrets of one identity, or of its separate next-key file.
/// No `Debug`: every member is secret.
pub struct KeyFile {
    /// The identity these keys belong to.
    pub client_id: String,
    /// The current signing key.
    pub signing: Option<SigningSecret>,
    /// The current sealing secret.
    pub sealing: Option<SealingSecret>,
    /// The committed next signing key (pre-rotation).
    pub next_signing: Option<SigningSecret>,
    /// Sealing secrets of earlier keys, until they expire.
    pub old_sealing: Vec<OldSealing>,
}

fn malformed(line: usize, what: impl Into<String>) -> KeyFileError {
    KeyFileError::Malformed {
        line,
        what: what.into(),
    }
}

fn secret32(line: usize, name: &str, value: &str) -> Result<Zeroizing<[u8; 32]>, KeyFileError> {
    b64::decode_array::<32>(value)
        .map(Zeroizing::new)
        .map_err(|_| malformed(line, format!("'{name}' must be base64url of 32 bytes")))
}

impl KeyFile {
    /// Drops old sealing secrets that expired before `now_ms`.
    pub fn prune(&mut self, now_ms: u64) {
        self.old_sealing.retain(|o| o.expires_at > now_ms);
    }

    /// The file text; sealed under `passphrase` when one is given.
    pub fn encode(&self, passphrase: Option<&[u8]>) -> Zeroizing<String> {
        let body = self.body();
        let mut out = Zeroizing::new(header(&self.client_id, self.signing.is_none()));
        match passphrase {
            None => {
                out.push_str(&format!("mcpmsg-keys: {PLAIN}\n"));
                out.push_str(&body);
            }
            Some(pass) => {
                let salt = random_bytes::<16>();
                let nonce = random_bytes::<12>();
                let kdf = format!("argon2id m={M_KIB} t={T_COST} p={P_COST}");
                let key =
                    derive(pass, salt.as_ref(), M_KIB, T_COST, P_COST).expect("fixed Argon2 parameters are valid");
                let sealed = ChaCha20Poly1305::new(key.as_ref().into())
                    .encrypt(
                        nonce.as_ref().into(),
                        Payload {
                            msg: body.as_bytes(),
                            aad: kdf.as_bytes(),
                        },
                    )
                    .expect("ChaCha20-Poly1305 encryption of a small body cannot fail");
                out.push_str(&format!(
                    "mcpmsg-keys: {ENCRYPTED}\nkdf: {kdf}\nsalt: {}\nnonce: {}\nsealed: {}\n",
                    b64::encode(salt.as_ref()),
                    b64::encode(nonce.as_ref()),
                    b64::encode(&sealed)
                ));
            }
        }
        out
    }

    fn body(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(format!("client_id: {}\n", self.client_id));
        let mut line = |name: &str, bytes: &[u8; 32], extra: &str| {
            s.push_str(name);
            s.push_str(": ");
            s.push_str(&b64::encode(bytes));
            s.push_str(extra);
            s.push('\n');
        };
        if let Some(k) = &self.signing {
            line("signing", &k.seed(), "");
        }
        if let Some(k) = &self.sealing {
            line("sealing", &k.to_bytes(), "");
        }
        if let Some(k) = &self.next_signing {
            line("next_signing", &k.seed(), "");
        }
        for o in &self.old_sealing {
            line("old_sealing", &o.secret.to_bytes(), &format!(" {}", o.expires_at));
        }
        s
    }

    /// True when the text is a passphrase-protected key file.
    pub fn is_encrypted(text: &str) -> bool {
        entries(text).any(|(_, k, v)| k == "mcpmsg-keys" && v == ENCRYPTED)
    }

    /// Parses a key file, unlocking it with `passphrase` if it is protected.
    pub fn decode(text: &str, passphrase: Option<&[u8]>) -> Result<Self, KeyFileError> {
        let mut lines = entries(text);
        let Some((n, "mcpmsg-keys", version)) = lines.next() else {
            return Err(malformed(1, "not an mcpmsg key file: expected 'mcpmsg-keys: v1' first"));
        };
        match version {
            PLAIN => Self::parse_body(lines),
            ENCRYPTED => {
                let pass = passphrase.ok_or(KeyFileError::NeedsPassphrase)?;
                let mut get = |name: &'static str| match lines.next() {
                    Some((_, k, v)) if k == name => Ok(v),
                    Some((n, _, _)) => Err(malformed(n, format!("expected '{name}'"))),
                    None => Err(KeyFileError::Missing(name)),
                };
                let kdf = get("kdf")?;
                let salt = b64::decode(get("salt")?).map_err(|_| malformed(n + 2, "salt: base64url"))?;
                let nonce = b64::decode_array::<12>(get("nonce")?)
                    .map_err(|_| malformed(n + 3, "nonce: base64url of 12 bytes"))?;
                let sealed = b64::decode(get("sealed")?).map_err(|_| malformed(n + 4, "sealed: base64url"))?;
                let (m, t, p) = parse_kdf(kdf).ok_or_else(|| {
                    malformed(
                        n + 1,
                        "kdf: expected 'argon2id m=<KiB> t=<passes> p=<lanes>' within limits",
                    )
                })?;
                let key =
                    derive(pass, &salt, m, t, p).ok_or_else(|| malformed(n + 1, "kdf: parameters out of range"))?;
                let body = ChaCha20Poly1305::new(key.as_ref().into())
                    .decrypt(
                        nonce.as_ref().into(),
                        Payload {
                            msg: &sealed,
                            aad: kdf.as_bytes(),
                        },
                    )
                    .map_err(|_| KeyFileError::WrongPassphrase)?;
                let body = Zeroizing::new(String::from_utf8(body).map_err(|_| KeyFileError::WrongPassphrase)?);
                Self::parse_body(entries(&body))
            }
            _ => Err(malformed(n, "unknown key file version: this mcpmsg reads v1")),
        }
    }

    fn parse_body<'a>(lines: impl Iterator<Item = (usize, &'a str, &'a str)>) -> Result<Self, KeyFileError> {
        let mut file = Self {
            client_id: String::new(),
            signing: None,
            sealing: None,
            next_signing: None,
            old_sealing: Vec::new(),
        };
        for (n, name, value) in lines {
            let once = |present: bool| {
                if present {
                    Err(malformed(n, format!("'{name}' given twice")))
                } else {
                    Ok(())
                }
            };
            match name {
                "client_id" => {
                    once(!file.client_id.is_empty())?;
                    check_client_id("client_id", value).map_err(|e| malformed(n, e.to_string()))?;
                    file.client_id = value.to_owned();
                }
                "signing" => {
                    once(file.signing.is_some())?;
                    file.signing = Some(SigningSecret::from_seed(&*secret32(n, name, value)?));
                }
                "sealing" => {
                    once(file.sealing.is_some())?;
                    file.sealing = Some(SealingSecret::from_bytes(&*secret32(n, name, value)?));
                }
                "next_signing" => {
                    once(file.next_signing.is_some())?;
                    file.next_signing = Some(SigningSecret::from_seed(&*secret32(n, name, value)?));
                }
                "old_sealing" => {
                    let (secret, expiry) = value
                        .split_once(' ')
                        .ok_or_else(|| malformed(n, "'old_sealing' must be '<base64url> <expires_at ms>'"))?;
                    let expires_at = expiry
                        .parse()
                        .map_err(|_| malformed(n, "'old_sealing' expiry must be Unix milliseconds"))?;
                    file.old_sealing.push(OldSealing {
                        secret: SealingSecret::from_bytes(&*secret32(n, name, secret)?),
                        expires_at,
                    });
                }
                _ => return Err(malformed(n, format!("unknown entry '{name}'"))),
            }
        }
        if file.client_id.is_empty() {
            return Err(KeyFileError::Missing("client_id"));
        }
        Ok(file)
    }
}

fn header(client_id: &str, next_only: bool) -> String {
    let what = if next_only {
        "the committed NEXT signing key"
    } else {
        "the secret keys"
    };
    format!(
        "# mcpmsg: {what} of {client_id}. KEEP THIS FILE SECRET.\n\
         # Whoever holds it can act as {client_id}; keep it mode 0600 and never share it.\n\
         # Written by `mcpmsg`; edit it only with `mcpmsg` commands.\n"
    )
}

/// `(line number, name, value)` of every non-comment, non-blank line.
fn entries(text: &str) -> impl Iterator<Item = (usize, &str, &str)> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let l = l.trim_end_matches('\r');
        if l.is_empty() || l.starts_with('#') {
            return None;
        }
        let (k, v) = l.split_once(": ").unwrap_or((l, ""));
        Some((i + 1, k, v))
    })
}

fn parse_kdf(kdf: &str) -> Option<(u32, u32, u32)> {
    let mut parts = kdf.split(' ');
    if parts.next()? != "argon2id" {
        return None;
    }
    let mut num = |prefix: &str| parts.next()?.strip_prefix(prefix)?.parse::<u32>().ok();
    let (m, t, p) = (num("m=")?, num("t=")?, num("p=")?);
    (m <= MAX_M_KIB && (1..=16).contains(&t) && (1..=16).contains(&p)).then_some((m, t, p))
}

fn derive(pass: &[u8], salt: &[u8], m: u32, t: u32, p: u32) -> Option<Zeroizing<[u8; 32]>> {
    let params = Params::new(m, t, p, Some(32)).ok()?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(pass, salt, key.as_mut())
        .ok()?;
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> KeyFile {
        KeyFile {
            client_id: "alice".into(),
            signing: Some(SigningSecret::from_seed(&[1; 32])),
            sealing: Some(SealingSecret::from_bytes(&[2; 32])),
            next_signing: Some(SigningSecret::from_seed(&[3; 32])),
            old_sealing: vec![OldSealing {
                secret: SealingSecret::from_bytes(&[4; 32]),
                expires_at: 99,
            }],
        }
    }

    fn same(a: &KeyFile, b: &KeyFile) -> bool {
        a.body() == b.body()
    }

    #[test]
    fn plain_round_trip_with_header() {
        let text = sample().encode(None);
        assert!(text.starts_with("# mcpmsg: the secret keys of alice. KEEP THIS FILE SECRET."));
        assert!(!KeyFile::is_encrypted(&text));
        assert!(same(&KeyFile::decode(&text, None).unwrap(), &sample()));
    }

    #[test]
    fn passphrase_round_trip_and_refusals() {
        let text = sample().encode(Some(b"correct horse"));
        assert!(KeyFile::is_encrypted(&text));
        assert!(!text.contains(&b64::encode(&[1; 32])), "seed in the clear");
        assert!(same(
            &KeyFile::decode(&text, Some(b"correct horse")).unwrap(),
            &sample()
        ));
        assert_eq!(KeyFile::decode(&text, None).err(), Some(KeyFileError::NeedsPassphrase));
        assert_eq!(
            KeyFile::decode(&text, Some(b"wrong")).err(),
            Some(KeyFileError::WrongPassphrase)
        );
        // Weakening the KDF parameters is detected: they are the AAD.
        let weak = text.replace("m=65536", "m=8");
        assert_eq!(
            KeyFile::decode(&weak, Some(b"correct horse")).err(),
            Some(KeyFileError::WrongPassphrase)
        );
        let greedy = text.replace("m=65536", "m=4000000000");
        assert!(matches!(
            KeyFile::decode(&greedy, Some(b"x")).err(),
            Some(KeyFileError::Malformed { .. })
        ));
    }

    #[test]
    fn malformed_files_name_the_line_and_never_quote_values() {
        let text = sample().encode(None).replace("signing: ", "signing: !!");
        let err = KeyFile::decode(&text, None).err().unwrap();
        assert_eq!(
            err,
            KeyFileError::Malformed {
                line: 6,
                what: "'signing' must be base64url of 32 bytes".into()
            }
        );
        assert_eq!(
            KeyFile::decode("hello", None).err().unwrap(),
            malformed(1, "not an mcpmsg key file: expected 'mcpmsg-keys: v1' first")
        );
        let twice = format!("{}signing: {}\n", &*sample().encode(None), b64::encode(&[9; 32]));
        assert!(matches!(
            KeyFile::decode(&twice, None).err(),
            Some(KeyFileError::Malformed { line: 10, .. })
        ));
    }

    #[test]
    fn prune_drops_expired_old_sealing_secrets() {
        let mut f = sample();
        f.prune(98);
        assert_eq!(f.old_sealing.len(), 1);
        f.prune(99);
        assert!(f.old_sealing.is_empty());
    }
}
