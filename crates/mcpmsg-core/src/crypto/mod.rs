//! Keys, signatures and sealing: the cryptographic primitives as mcpmsg
//! uses them.
//!
//! Sync code with no I/O. It imports nothing of `protocol`: what a
//! signature or a seal binds (signing inputs, the seal's AAD, key event
//! logs) is a protocol construction built on top of this module. Secrets live in types without `Debug` or `Display`
//! that zeroize on drop. Every primitive comes from a maintained crate
//! (ed25519-dalek, x25519-dalek, hpke, sha2); this module only fixes how
//! mcpmsg uses them.

pub mod b64;
mod keys;
pub mod seal;

pub(crate) use keys::hex;
pub use keys::{
    fingerprint, is_fingerprint, kid, random_bytes, KeyError, SealingPublicKey, SealingSecret, SigningPublicKey,
    SigningSecret,
};
