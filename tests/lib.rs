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

/// The seeds of the vector identities `names` (`<name>_signing`,
/// `<name>_next`, `<name>_sealing`, 64 hex each): SHA-256 of
/// `"mcpmsg-v1 <label> vector <name>_<key>"`.
pub fn seeds(label: &str, names: &[&str]) -> std::collections::BTreeMap<String, String> {
    use sha2::{Digest, Sha256};
    names
        .iter()
        .flat_map(|m| ["signing", "next", "sealing"].map(|k| format!("{m}_{k}")))
        .map(|n| {
            let seed = hex(&Sha256::digest(format!("mcpmsg-v1 {label} vector {n}")));
            (n, seed)
        })
        .collect()
}

/// A vector identity: its signing and sealing keys and its inception.
pub struct Keys {
    pub signing: mcpmsg_core::crypto::SigningSecret,
    pub sealing: mcpmsg_core::crypto::SealingSecret,
    pub kel: Vec<mcpmsg_core::protocol::kel::Event>,
}

/// The identities of `seeds` for `names`, the i-th incepted at `ts + i`.
pub fn keys<'a>(
    seeds: &std::collections::BTreeMap<String, String>,
    names: &[&'a str],
    ts: u64,
) -> std::collections::BTreeMap<&'a str, Keys> {
    use mcpmsg_core::crypto::{SealingSecret, SigningSecret};
    names
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let signing = SigningSecret::from_seed(&unhex(&seeds[&format!("{m}_signing")]));
            let next = SigningSecret::from_seed(&unhex(&seeds[&format!("{m}_next")]));
            let sealing = SealingSecret::from_bytes(&unhex(&seeds[&format!("{m}_sealing")]));
            let kel = vec![mcpmsg_core::protocol::kel::Event::inception(
                m,
                &signing,
                &sealing.public(),
                &next.public(),
                ts + i as u64,
            )];
            (*m, Keys { signing, sealing, kel })
        })
        .collect()
}
