//! Where the Redis store keeps things: key names (hash-tagged per client,
//! so Redis Cluster can place them), the doorbell channel, and the minutes
//! a used nonce may be filed under.

use std::time::Duration;

use super::codec::raw16;
use super::StoreError;

/// The doorbell: every send publishes `<node> <recipient>` (a room's
/// fan-out or a typing signal, `<node>` and every member it reached,
/// space-separated: client ids have no spaces), every identity write
/// `<node> id:<client>`.
pub(super) const BELL: &str = "mcpmsg:bell";
/// The set of registered client ids.
pub(super) const IDS: &str = "mcpmsg:ids";
/// Last authenticated call per client: a HASH of client id to Unix ms,
/// one field per registered identity. In the slot `{p}` with the pairing
/// queue, whose script drops clients that went offline.
pub(super) const PRESENCE: &str = "mcpmsg:{p}:presence";
/// The pairing queue: a ZSET of who waits (by time of entry) ...
pub(super) const PAIR_ORDER: &str = "mcpmsg:{p}:pairq";
/// ... and a HASH of their entries (JSON of `store::Waiting`).
pub(super) const PAIR_ENTRIES: &str = "mcpmsg:{p}:paire";
/// Live pen-pal rooms, which the presence sweep looks at: a SET.
pub(super) const PAIR_ROOMS: &str = "mcpmsg:{p}:pairrooms";

/// A recipient's queue (LIST), its leases (ZSET) and its messages per
/// sender (HASH), in one slot.
pub(super) fn queue_keys(recipient: &str) -> [String; 3] {
    [
        format!("mcpmsg:{{{recipient}}}:q"),
        format!("mcpmsg:{{{recipient}}}:l"),
        format!("mcpmsg:{{{recipient}}}:s"),
    ]
}

/// The typing signals left for a client (PROTOCOL §15d): a HASH of
/// "<room> <sender>" -> entry, in the slot of its queue, so taking reads
/// them in the same step.
pub(super) fn signal_key(recipient: &str) -> String {
    format!("mcpmsg:{{{recipient}}}:sig")
}

/// A client's block list: a SET of the client ids it blocks, in the slot
/// of its queue, so the send script checks it in the same step.
pub(super) fn block_key(client_id: &str) -> String {
    format!("mcpmsg:{{{client_id}}}:b")
}

/// Used nonces are kept in hashes by minute and by the nonce's first byte
/// (see `redis_scripts`).
pub(super) const NONCE_BUCKET_MS: u64 = 60_000;
/// How far the clocks of two nodes may disagree without a replay through
/// one of them going unseen: the minutes looked at reach this far past the
/// window on both sides.
pub(super) const CLOCK_MARGIN_MS: u64 = 2_000;
/// The replay window when none is set: twice the default max skew.
pub(super) const DEFAULT_NONCE_WINDOW: Duration = Duration::from_secs(240);

/// A random name for this node on the doorbell.
pub(super) fn node_name() -> String {
    mcpmsg_core::crypto::random_bytes::<8>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A nonce's place: the keys of every minute that may hold a live record
/// of it at `now` (the current minute first, where a claim goes), and its
/// field, the nonce's 16 raw bytes.
pub(super) fn nonce_place(
    client_id: &str,
    nonce: &str,
    now: u64,
    window: u64,
) -> Result<(Vec<String>, [u8; 16]), StoreError> {
    let raw = raw16(nonce).ok_or_else(|| StoreError("redis: nonce is not in its protocol form".into()))?;
    let tag = slot_tag(client_id);
    let key = |minute: u64| format!("mcpmsg:{{{tag}}}:n:{minute}:{:02x}", raw[0]);
    let current = now / NONCE_BUCKET_MS;
    let first = now.saturating_sub(window + CLOCK_MARGIN_MS) / NONCE_BUCKET_MS;
    let last = (now + CLOCK_MARGIN_MS) / NONCE_BUCKET_MS;
    let mut keys = vec![key(current)];
    keys.extend((first..=last).filter(|m| *m != current).map(key));
    Ok((keys, raw))
}

/// How long a nonce hash must live for a record claimed at `now` until
/// `until`: past the end of its minute, whichever node looks.
pub(super) fn nonce_ttl(until: u64, now: u64) -> u64 {
    until.saturating_sub(now) + NONCE_BUCKET_MS + CLOCK_MARGIN_MS
}

pub(super) fn identity_key(client_id: &str) -> String {
    format!("mcpmsg:{{{}}}:id", slot_tag(client_id))
}

/// The hash tag of a client's keys. The server's own events have the empty
/// sender, and an empty tag `{}` does not tag at all on a Cluster (each key
/// would hash on its own), so they use `-`, which no client id can be.
fn slot_tag(client_id: &str) -> &str {
    if client_id.is_empty() {
        "-"
    } else {
        client_id
    }
}
