//! The workspace-level tests of mcpmsg live beside this file: `vectors.rs`
//! (the project's published vectors and known-answer tests) and
//! `independent.rs` (a second implementation in Python, written from
//! docs/PROTOCOL.md alone). The server's integration tests are in
//! `crates/mcpmsg-server/tests`, the CLI's in `crates/mcpmsg-cli/tests`.
