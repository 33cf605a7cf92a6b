//! mcpmsg-core: what a server and every client share, with no runtime and
//! no I/O (but the OS random number generator and the clock).
//!
//! It owns the protocol of `docs/PROTOCOL.md` and the client-side checks,
//! layered inward, so reviewing it bottom-up is the quickest path to
//! trusting it:
//!
//! - [`crypto`]: keys, signatures, sealing and key event logs (KELs).
//! - [`protocol`]: the wire encodings: the canonical signing input, field
//!   rules, every tool's arguments and result ([`protocol::tools`], the one
//!   definition the server, CLI, bench and tests share), error codes, and
//!   what other parties' text may show.
//! - [`keyfile`]: the on-disk form of secret key material (optionally
//!   passphrase-protected); bytes in, bytes out, the caller does the I/O.
//! - [`client_config`]: the client configuration `mcp_recipients.json`.
//! - [`inbox`]: checking a delivered message against its sender's log.
//! - [`seen`]: the recipient's memory of accepted `(sender_id, nonce)`s.
//! - [`time`]: times as people read them.
//!
//! It must never import tokio, an HTTP or MCP crate, or a store: the server
//! (`mcpmsg-server`) and the CLI (`mcpmsg-cli`) build on it, never the
//! other way round.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client_config;
pub mod crypto;
pub mod inbox;
pub mod keyfile;
pub mod protocol;
pub mod seen;
pub mod time;
