//! The mcpmsg server: everything that runs behind `/mcp`.
//!
//! It owns the rules of a shared relay and everything between them and the
//! network, layered inward: [`config`] (flags into one validated
//! configuration), [`server`] (the accept loop and routes) and [`edge`]
//! (what rmcp gets wrong at the HTTP edge), [`mcp`] (tool arguments in,
//! rendered results out), [`broker`] (the rules: signed requests,
//! identities, queues, leases, waits, limits), and [`store`] (memory and
//! Redis behind one trait). The protocol itself (signing inputs, keys, key
//! event logs, field rules) comes from `mcpmsg-core`; this crate must never
//! define a wire format of its own or be imported by the CLI, which must
//! not build Redis, axum, rustls or mimalloc.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod broker;
pub mod config;
pub mod edge;
pub mod mcp;
pub mod server;
pub mod server_key;
pub mod store;
