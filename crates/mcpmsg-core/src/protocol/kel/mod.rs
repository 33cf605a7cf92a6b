//! The key event log (KEL) of PROTOCOL §3: an identity's append-only,
//! hash-chained history of establishment (inception, rotation) and
//! revocation events, with pre-rotation.
//!
//! [`Event`] is the JSON object exactly as the protocol defines it (all
//! members strings, no others). [`KelState`] is what a verified log proves;
//! it is only ever produced by checking events one by one from inception
//! ([`verify_log`], [`KelState::apply`]), so holding one means the checks ran.

mod event;
mod verify;

pub use event::{Establishment, Event, Reason, Revocation};
pub use verify::{check_pin, verify_log, EstablishedKeys, KelError, KelState, KelStatus, LogError, RevocationEntry};

#[cfg(test)]
mod tests;
