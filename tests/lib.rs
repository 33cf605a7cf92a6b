//! The workspace-level tests of mcpmsg live beside this file: `vectors.rs`
//! (the project's published vectors and known-answer tests) and
//! `independent.rs` (a second implementation in Python, written from
//! docs/PROTOCOL.md alone). The server's integration tests are in
//! `crates/mcpmsg-server/tests`, the CLI's in `crates/mcpmsg-cli/tests`.

/// Lowercase hex of `b`, as the vector files write bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The `N` bytes of lowercase hex `s`.
///
/// # Panics
/// If `s` is not `2 * N` hex digits: the vector files are ours.
pub fn unhex<const N: usize>(s: &str) -> [u8; N] {
    let v: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect();
    v.try_into().unwrap()
}
