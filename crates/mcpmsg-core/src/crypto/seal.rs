//! End-to-end sealing, PROTOCOL §6: HPKE (RFC 9180) single-shot `mode_base`
//! with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and ChaCha20Poly1305.
//!
//! The wire form is `enc || ct`. The AAD comes in as bytes: what it binds
//! (sender, recipient, key id, time and nonce, so a relay can neither read
//! a sealed message nor re-attribute it) is a protocol construction, in
//! `protocol::sealed`. Every failure to open is the same [`OpenError`]: which
//! step failed is not revealed to whoever supplied the ciphertext.

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use rand_core::{OsRng, UnwrapErr};

use super::keys::{SealingPublicKey, SealingSecret};

type Kem = X25519HkdfSha256;

/// The HPKE `info` string of PROTOCOL §6.
pub const INFO: &[u8] = b"mcpmsg-v1-seal";

/// The length of the encapsulated key that starts a sealed message.
pub const ENC_LEN: usize = 32;

/// The AEAD tag length that ends a sealed message.
pub const TAG_LEN: usize = 16;

/// A sealed message could not be opened. Deliberately uninformative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sealed message cannot be opened with this key")]
pub struct OpenError;

/// Sealing failed: only possible with a small-order recipient key, which
/// [`SealingPublicKey::parse`] already refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot seal to this recipient key")]
pub struct SealError;

/// Seals `plaintext` to `recipient`: returns `enc || ct`.
pub fn seal(recipient: &SealingPublicKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
    seal_with_info(recipient, INFO, aad, plaintext)
}

/// Seals with another HPKE `info` (a construction of its own, such as a
/// room message's key wrap, PROTOCOL §15): returns `enc || ct`.
pub fn seal_with_info(
    recipient: &SealingPublicKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, SealError> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(recipient.as_bytes()).map_err(|_| SealError)?;
    let (enc, ct) = hpke::single_shot_seal::<ChaCha20Poly1305, HkdfSha256, Kem, _>(
        &OpModeS::Base,
        &pk,
        info,
        plaintext,
        aad,
        &mut UnwrapErr(OsRng),
    )
    .map_err(|_| SealError)?;
    let mut out = enc.to_bytes().to_vec();
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Opens `enc || ct` with the recipient's secret.
pub fn open(secret: &SealingSecret, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
    open_with_info(secret, INFO, aad, sealed)
}

/// Opens `enc || ct` sealed with [`seal_with_info`] under `info`.
pub fn open_with_info(secret: &SealingSecret, info: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
    if sealed.len() < ENC_LEN + TAG_LEN {
        return Err(OpenError);
    }
    let (enc, ct) = sealed.split_at(ENC_LEN);
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| OpenError)?;
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(secret.to_bytes().as_ref()).map_err(|_| OpenError)?;
    hpke::single_shot_open::<ChaCha20Poly1305, HkdfSha256, Kem>(&OpModeR::Base, &sk, &enc, info, ct, aad)
        .map_err(|_| OpenError)
}

/// Derives a sealing key pair from input keying material, RFC 9180 §7.1.3
/// `DeriveKeyPair`. Used for deterministic test vectors only; real keys come
/// from [`SealingSecret::generate`].
pub fn derive_keypair(ikm: &[u8]) -> SealingSecret {
    let (sk, _) = Kem::derive_keypair(ikm);
    let bytes: [u8; 32] = sk.to_bytes().into();
    SealingSecret::from_bytes(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[derive(Deserialize)]
    struct Rfc9180 {
        info: String,
        #[serde(rename = "ikmR")]
        ikm_r: String,
        #[serde(rename = "skRm")]
        sk_rm: String,
        #[serde(rename = "pkRm")]
        pk_rm: String,
        #[serde(rename = "ikmE")]
        ikm_e: String,
        #[serde(rename = "pkEm")]
        pk_em: String,
        enc: String,
        encryptions: Vec<Encryption>,
    }

    #[derive(Deserialize)]
    struct Encryption {
        aad: String,
        ct: String,
        pt: String,
    }

    /// RFC 9180 Appendix A.2.1: key derivation and the first (sequence 0)
    /// encryption, which is exactly what single-shot open performs.
    #[test]
    fn rfc9180_a_2_1_known_answers() {
        let v: Rfc9180 = serde_json::from_str(include_str!(
            "../../../../tests/vectors/rfc9180-base-x25519-sha256-chacha20poly1305.json"
        ))
        .unwrap();
        let recipient = derive_keypair(&unhex(&v.ikm_r));
        assert_eq!(recipient.to_bytes().to_vec(), unhex(&v.sk_rm));
        assert_eq!(recipient.public().as_bytes().to_vec(), unhex(&v.pk_rm));
        let ephemeral = derive_keypair(&unhex(&v.ikm_e));
        assert_eq!(ephemeral.public().as_bytes().to_vec(), unhex(&v.pk_em));
        assert_eq!(unhex(&v.enc), unhex(&v.pk_em));

        let first = &v.encryptions[0];
        let mut sealed = unhex(&v.enc);
        sealed.extend(unhex(&first.ct));
        let pt = open_with_info(&recipient, &unhex(&v.info), &unhex(&first.aad), &sealed).unwrap();
        assert_eq!(pt, unhex(&first.pt));
        // One flipped bit anywhere is refused, with the one uniform error.
        for i in [0, ENC_LEN, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(
                open_with_info(&recipient, &unhex(&v.info), &unhex(&first.aad), &bad),
                Err(OpenError)
            );
        }
    }

    #[test]
    fn seal_open_round_trip_binds_the_aad() {
        let r = SealingSecret::generate();
        let a = b"what the protocol binds".to_vec();
        let sealed = seal(&r.public(), &a, b"hello").unwrap();
        assert_eq!(sealed.len(), ENC_LEN + 5 + TAG_LEN);
        assert_eq!(open(&r, &a, &sealed).unwrap(), b"hello");
        let other = b"what the protocol binds, re-attributed".to_vec();
        assert_eq!(open(&r, &other, &sealed), Err(OpenError));
        assert_eq!(open(&SealingSecret::generate(), &a, &sealed), Err(OpenError));
        assert_eq!(open(&r, &a, &sealed[..ENC_LEN + TAG_LEN - 1]), Err(OpenError));
    }
}
