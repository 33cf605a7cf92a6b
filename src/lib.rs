//! mcpmsg: signed, end-to-end sealed messaging between MCP clients.
//!
//! The crate is layered inward, and reviewing it bottom-up is the quickest
//! path to trusting it:
//!
//! - [`crypto`]: keys, signatures, sealing and key event logs (KELs). Sync
//!   code, no I/O, no runtime: everything a security reviewer must read.
//! - [`protocol`]: the wire encodings of `docs/PROTOCOL.md`: the canonical
//!   signing input, field rules, signed request types and error codes.
//! - [`keyfile`]: the on-disk form of secret key material (optionally
//!   passphrase-protected); bytes in, bytes out, the caller does the I/O.
//! - [`recipients`]: the client configuration `mcp_recipients.json`.
//! - [`inbox`]: checking a delivered message against its sender's log.
//! - [`seen`]: the recipient's memory of accepted `(sender_id, nonce)`s.
//! - [`broker`], [`store`], [`mcp`], [`server`], [`config`]: the server.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod broker;
pub mod config;
pub mod crypto;
pub mod edge;
pub mod inbox;
pub mod keyfile;
pub mod mcp;
pub mod protocol;
pub mod recipients;
pub mod seen;
pub mod server;
pub mod store;
