//! The Lua scripts of the Redis store, each in `lua/` beside this file.
//! Each runs atomically on the server, so a step that reads and writes
//! (claim a nonce and queue a message; take and lease; ack) cannot
//! interleave with another node's.
//!
//! A recipient R's queue is three keys with the hash tag `{R}`: `q`, a LIST
//! of messages in the compact layout of `redis_codec`, oldest first, `l`,
//! a ZSET of message id (16 raw bytes) -> lease end, for messages handed
//! out with a lease, and `s`, a HASH of sender -> messages queued (each
//! sender's share of the queue is bounded). Each message is stored once, in the list: Redis
//! packs list entries into listpacks of up to 8 KiB, so a queued message
//! costs little beyond its own bytes. Lifetime is constant, so the list is
//! in expiry order and expired messages are dropped from its head by every
//! script that touches the queue; both keys expire with the newest message,
//! so an idle queue costs nothing.

/// Helpers for every script: a big-endian integer from bytes, and expiry
/// that is relative (so the clocks of nodes and Redis need not agree) and
/// never shortened (in case nodes are configured with different times).
const COMMON: &str = include_str!("lua/common.lua");

/// Used nonces of a client C live in hashes `mcpmsg:{C}:n:<minute>:<first
/// byte of the nonce>`: field the 16 raw bytes of the nonce, value its
/// `until` (48 bits) and record (see `redis_codec`). Small hashes are
/// stored by Redis as compact listpacks, so a used nonce costs about 60
/// bytes rather than the 200 of a key of its own, and a hash expires as a
/// whole once its minute's window has passed. A script gets the keys of
/// every minute that may hold a live record, the current one first.
const NONCE: &str = include_str!("lua/nonce.lua");

/// Helpers for the scripts that touch a queue. `meta` reads the first rows
/// of an entry (see `redis_codec`).
const QUEUE: &str = include_str!("lua/queue.lua");

/// KEYS: q l s and the block list of the recipient, the sender's identity,
/// then the sender's nonce keys. ARGV:
/// entry, max_queue, nonce_ttl, nonce_value, expires_at, now,
/// bell_channel, bell message, nonce field, expected head of the sender's
/// log ('' for none), sender, max per sender.
/// Returns {'stale'} | {'used', old nonce value} | {'blocked'} | {'full'} |
/// {'share'} | {'queued'}.
const SEND: &str = include_str!("lua/send.lua");

/// Redis Cluster: the sender's nonce lives in another slot, so it was
/// claimed just before, and this script deduplicates by message id in the
/// recipient's slot instead: a retry after a crash between the two steps
/// queues the message once, and is answered as a duplicate once it is
/// queued.
/// KEYS: q l s dedup, the recipient's block list. ARGV: entry, max_queue,
/// window_px, "received expires", expires_at, now, bell_channel,
/// recipient, sender, max per sender, '1' to honour the block list (a 1:1
/// send) or '0' (a room message's copy).
/// Returns {'dup', "received expires"} | {'blocked'} | {'full'} | {'share'} | {'queued'}.
const SEND_CLUSTER: &str = include_str!("lua/send_cluster.lua");

/// KEYS: the client's identity, then its nonce keys. ARGV: field, value,
/// ttl, now, expected head of the client's log ('' for none). Claims the
/// nonce unless it is live or the head differs.
/// Returns {'stale'} | {'used', live value} | {'claimed'}.
const CLAIM: &str = include_str!("lua/claim.lua");

/// KEYS: the nonce key a claim went to. ARGV: field, value. Frees the
/// claim if it still holds value.
const RELEASE: &str = include_str!("lua/release.lua");

/// KEYS: q l s and the recipient's typing signals (a HASH). ARGV: max,
/// lease_until (0: remove), now. Returns the entries handed out, oldest
/// first, then the live signals, which it removes.
const TAKE: &str = include_str!("lua/take.lua");

/// KEYS: q l. ARGV: sender, reply_to (16 raw bytes), now. Removes and
/// returns the oldest deliverable message from sender, preferring a reply
/// to reply_to.
const TAKE_REPLY: &str = include_str!("lua/take_reply.lua");

/// KEYS: q l. ARGV: now, ids (16 raw bytes each)... Returns a 1/0 flag per
/// id (removed or not). Only messages handed out with a lease can be acked
/// (a client learns an id no other way), so the list is searched only for
/// ids in `l`, and those sit near its head.
const ACK: &str = include_str!("lua/ack.lua");

/// KEYS: q l. ARGV: now. Returns {queue length, earliest lease end after now or -1}.
const INSPECT: &str = include_str!("lua/inspect.lua");

/// KEYS: identity. ARGV: expected length, new length, record, bell
/// channel, invalidation message, head of the new log. Publishes the
/// invalidation so every node drops its cached copy.
const PUT_IDENTITY: &str = include_str!("lua/put_identity.lua");

/// KEYS: identity, then the client's nonce keys (one slot). ARGV: field,
/// now. Returns {live nonce value or '', head of the stored log or ''}.
const PRECHECK: &str = include_str!("lua/precheck.lua");

/// KEYS: the presence hash. ARGV: client id, Unix ms. Sets the client's
/// last-seen time unless the stored one is later (nodes write in any order).
const TOUCH: &str = include_str!("lua/touch.lua");

/// KEYS: a room's log. ARGV: expected length, entry, '1' to delete the
/// log instead (nobody is a member any more). Returns 1, or 0 when the log
/// has another length.
const ROOM_APPEND: &str = include_str!("lua/room_append.lua");

/// KEYS: the room's log, the sender's nonce keys (current minute first),
/// then q l s of each recipient. ARGV: log length, nonce field, nonce
/// value, nonce ttl, entry, expires_at, now, bell channel, node name,
/// sender, max_queue, max per sender, number of nonce keys, then the
/// recipients' ids. Returns {'moved'} | {'used', value} | {'sent',
/// 'queued' | 'full' | 'share' per recipient}: one script for the whole
/// fan-out, however many members.
const ROOM_FAN_OUT: &str = include_str!("lua/room_fan_out.lua");

/// KEYS: the queue's order, its entries, the presence hash. ARGV:
/// entrant, entry, now, offline_before, seed, scan, max_queue, the
/// entrant's interests (comma-separated), grace_before, whom the entrant
/// blocks (comma-separated). Returns {'paired', partner's
/// entry} | {'waiting'} | {'full'} (see `store::pairing` for the rule).
const PAIR_ENTER: &str = include_str!("lua/pair_enter.lua");

/// KEYS: a client's block list. ARGV: other, '1' to add or '0' to remove,
/// max. Returns the list after, or false when adding would pass max.
const SET_BLOCK: &str = include_str!("lua/set_block.lua");

/// KEYS: each recipient's typing signals, a HASH of "<room> <sender>" ->
/// entry (the layout of a queued message) in the recipient's slot. ARGV:
/// field, entry, ttl, now, max, bell channel, node name, then the
/// recipients' ids. Returns '1' (left) or '0' (the recipient holds max
/// signals of others) per recipient. On a Cluster it is called once per
/// recipient.
const SIGNAL: &str = include_str!("lua/signal.lua");

/// KEYS: the registry's names, the name's hash (one slot, `{reg}`).
/// ARGV: registrant, `v:<version>`, record, the owners if the registrant
/// owns the name after, max names, max versions, '1' when co-owners are
/// asked for, the name. Returns {'registered', owners after} |
/// {'not_owner', owners} | {'exists'} | {'names_full'} | {'versions_full'}
/// (the rule of `store::decide`).
const REGISTER_PROTOCOL: &str = include_str!("lua/register_protocol.lua");

/// KEYS: the name's hash, its adapters' hash (slot `{reg}`). ARGV:
/// registrant, `<from>><to>`, record, max adapters. Returns {'registered'}
/// | {'unknown'} | {'not_owner', owners} | {'exists'} | {'full'}.
const REGISTER_ADAPTER: &str = include_str!("lua/register_adapter.lua");

pub(super) struct Scripts {
    pub precheck: redis::Script,
    pub send: redis::Script,
    pub send_cluster: redis::Script,
    pub claim: redis::Script,
    pub release: redis::Script,
    pub take: redis::Script,
    pub take_reply: redis::Script,
    pub ack: redis::Script,
    pub inspect: redis::Script,
    pub put_identity: redis::Script,
    pub touch: redis::Script,
    pub room_append: redis::Script,
    pub room_fan_out: redis::Script,
    pub pair_enter: redis::Script,
    pub set_block: redis::Script,
    pub signal: redis::Script,
    pub register_protocol: redis::Script,
    pub register_adapter: redis::Script,
}

impl Scripts {
    pub fn new() -> Self {
        let q = |body: &str| redis::Script::new(&format!("{COMMON}{NONCE}{QUEUE}{body}"));
        let n = |body: &str| redis::Script::new(&format!("{COMMON}{NONCE}{body}"));
        Self {
            precheck: n(PRECHECK),
            send: q(SEND),
            send_cluster: q(SEND_CLUSTER),
            claim: n(CLAIM),
            release: redis::Script::new(RELEASE),
            take: q(TAKE),
            take_reply: q(TAKE_REPLY),
            ack: q(ACK),
            inspect: q(INSPECT),
            put_identity: redis::Script::new(PUT_IDENTITY),
            touch: redis::Script::new(TOUCH),
            room_append: redis::Script::new(ROOM_APPEND),
            room_fan_out: q(ROOM_FAN_OUT),
            pair_enter: redis::Script::new(PAIR_ENTER),
            set_block: redis::Script::new(SET_BLOCK),
            signal: q(SIGNAL),
            register_protocol: redis::Script::new(REGISTER_PROTOCOL),
            register_adapter: redis::Script::new(REGISTER_ADAPTER),
        }
    }
}
