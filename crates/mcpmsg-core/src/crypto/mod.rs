//! Keys, signatures, sealing and key event logs: the cryptographic core.
//!
//! Sync code with no I/O. Secrets live in types without `Debug` or `Display`
//! that zeroize on drop. Every primitive comes from a maintained crate
//! (ed25519-dalek, x25519-dalek, hpke, sha2); this module only fixes how
//! mcpmsg uses them.

pub mod b64;
pub mod kel;
mod keys;
pub mod seal;

pub use keys::{
    fingerprint, is_fingerprint, kid, random_bytes, KeyError, SealingPublicKey, SealingSecret, SigningPublicKey,
    SigningSecret,
};
