//! The Lua scripts of the Redis store. Each runs atomically on the server,
//! so a step that reads and writes (claim a nonce and queue a message; take
//! and lease; ack) cannot interleave with another node's.
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
const COMMON: &str = r#"
local function int(v, i, n)
  local x = 0
  for k = i, i + n - 1 do x = x * 256 + string.byte(v, k) end
  return x
end
local function live_until(k, ms)
  if redis.call('PTTL', k) < ms then redis.call('PEXPIRE', k, ms) end
end
"#;

/// Used nonces of a client C live in hashes `mcpmsg:{C}:n:<minute>:<first
/// byte of the nonce>`: field the 16 raw bytes of the nonce, value its
/// `until` (48 bits) and record (see `redis_codec`). Small hashes are
/// stored by Redis as compact listpacks, so a used nonce costs about 60
/// bytes rather than the 200 of a key of its own, and a hash expires as a
/// whole once its minute's window has passed. A script gets the keys of
/// every minute that may hold a live record, the current one first.
const NONCE: &str = r#"
local function seen(from, field, now)
  for i = from, #KEYS do
    local v = redis.call('HGET', KEYS[i], field)
    if v and int(v, 1, 6) > now then return v end
  end
  return false
end
local function remember(key, field, value, ttl)
  redis.call('HSET', key, field, value)
  live_until(key, ttl)
end
"#;

/// Helpers for the scripts that touch a queue. `meta` reads the first rows
/// of an entry (see `redis_codec`).
const QUEUE: &str = r#"
local q, l, s = KEYS[1], KEYS[2], KEYS[3]
-- expires_at, message id, sender_id, in_reply_to ('' when none)
local function meta(v)
  local f = string.byte(v, 27)
  local n = f % 128
  local r = ''
  if f >= 128 then r = string.sub(v, 28 + n, 43 + n) end
  return int(v, 1, 6) + int(v, 7, 4), string.sub(v, 11, 26), string.sub(v, 28, 27 + n), r
end
local function uncount(sender)
  if redis.call('HINCRBY', s, sender, -1) <= 0 then redis.call('HDEL', s, sender) end
end
local function expire(now)
  while true do
    local v = redis.call('LINDEX', q, 0)
    if not v then return end
    local e, id, sender = meta(v)
    if e > now then return end
    redis.call('LPOP', q)
    redis.call('ZREM', l, id)
    uncount(sender)
  end
end
local function leased(id, now)
  local t = redis.call('ZSCORE', l, id)
  return t and tonumber(t) > now
end
local function drop(v, id)
  local _, _, sender = meta(v)
  redis.call('LREM', q, 1, v)
  redis.call('ZREM', l, id)
  uncount(sender)
end
-- Whether `sender` may queue one more (its share of the queue).
local function share_left(sender, max)
  return tonumber(redis.call('HGET', s, sender) or '0') < max
end
local function push(v, sender, expires_at, now)
  redis.call('RPUSH', q, v)
  redis.call('HINCRBY', s, sender, 1)
  live_until(q, expires_at - now)
  live_until(l, expires_at - now)
  live_until(s, expires_at - now)
end
"#;

/// KEYS: q l s, the sender's identity, then the sender's nonce keys. ARGV:
/// entry, max_queue, nonce_ttl, nonce_value, expires_at, now,
/// bell_channel, bell message, nonce field, expected head of the sender's
/// log ('' for none), sender, max per sender.
/// Returns {'stale'} | {'used', old nonce value} | {'full'} | {'share'} | {'queued'}.
const SEND: &str = r#"
if ARGV[10] ~= '' and redis.call('HGET', KEYS[4], 'head') ~= ARGV[10] then return {'stale'} end
local now = tonumber(ARGV[6])
local old = seen(5, ARGV[9], now)
if old then return {'used', old} end
expire(now)
if redis.call('LLEN', q) >= tonumber(ARGV[2]) then return {'full'} end
if not share_left(ARGV[11], tonumber(ARGV[12])) then return {'share'} end
remember(KEYS[5], ARGV[9], ARGV[4], tonumber(ARGV[3]))
push(ARGV[1], ARGV[11], tonumber(ARGV[5]), now)
redis.call('PUBLISH', ARGV[7], ARGV[8])
return {'queued'}
"#;

/// Redis Cluster: the sender's nonce lives in another slot, so it was
/// claimed just before, and this script deduplicates by message id in the
/// recipient's slot instead: a retry after a crash between the two steps
/// queues the message once, and is answered as a duplicate once it is
/// queued.
/// KEYS: q l s dedup. ARGV: entry, max_queue, window_px, "received
/// expires", expires_at, now, bell_channel, recipient, sender, max per
/// sender.
/// Returns {'dup', "received expires"} | {'full'} | {'share'} | {'queued'}.
const SEND_CLUSTER: &str = r#"
local seen = redis.call('GET', KEYS[4])
if seen then return {'dup', seen} end
local now = tonumber(ARGV[6])
expire(now)
if redis.call('LLEN', q) >= tonumber(ARGV[2]) then return {'full'} end
if not share_left(ARGV[9], tonumber(ARGV[10])) then return {'share'} end
redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[3])
push(ARGV[1], ARGV[9], tonumber(ARGV[5]), now)
redis.call('PUBLISH', ARGV[7], ARGV[8])
return {'queued'}
"#;

/// KEYS: the client's identity, then its nonce keys. ARGV: field, value,
/// ttl, now, expected head of the client's log ('' for none). Claims the
/// nonce unless it is live or the head differs.
/// Returns {'stale'} | {'used', live value} | {'claimed'}.
const CLAIM: &str = r#"
if ARGV[5] ~= '' and redis.call('HGET', KEYS[1], 'head') ~= ARGV[5] then return {'stale'} end
local old = seen(2, ARGV[1], tonumber(ARGV[4]))
if old then return {'used', old} end
remember(KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3]))
return {'claimed'}
"#;

/// KEYS: the nonce key a claim went to. ARGV: field, value. Frees the
/// claim if it still holds value.
const RELEASE: &str = r#"
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) return 1 end
return 0
"#;

/// KEYS: q l. ARGV: max, lease_until (0: remove), now.
/// Returns the entries handed out, oldest first.
const TAKE: &str = r#"
local max, lease, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
expire(now)
local out, gone, start = {}, {}, 0
while #out < max do
  local vs = redis.call('LRANGE', q, start, start + 99)
  if #vs == 0 then break end
  for _, v in ipairs(vs) do
    if #out >= max then break end
    local e, id = meta(v)
    if e > now and not leased(id, now) then
      table.insert(out, v)
      if lease > 0 then redis.call('ZADD', l, lease, id) else table.insert(gone, {v, id}) end
    end
  end
  start = start + 100
end
for _, g in ipairs(gone) do drop(g[1], g[2]) end
if lease > 0 and #out > 0 then
  local t = redis.call('PTTL', q)
  if t > 0 then live_until(l, t) end
end
return out
"#;

/// KEYS: q l. ARGV: sender, reply_to (16 raw bytes), now. Removes and
/// returns the oldest deliverable message from sender, preferring a reply
/// to reply_to.
const TAKE_REPLY: &str = r#"
local sender, reply_to, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
expire(now)
local first, pick, start = nil, nil, 0
while not pick do
  local vs = redis.call('LRANGE', q, start, start + 99)
  if #vs == 0 then break end
  for _, v in ipairs(vs) do
    local e, id, s, r = meta(v)
    if s == sender and e > now and not leased(id, now) then
      if r == reply_to then pick = {v, id} break end
      if not first then first = {v, id} end
    end
  end
  start = start + 100
end
pick = pick or first
if not pick then return false end
drop(pick[1], pick[2])
return pick[1]
"#;

/// KEYS: q l. ARGV: now, ids (16 raw bytes each)... Returns a 1/0 flag per
/// id (removed or not). Only messages handed out with a lease can be acked
/// (a client learns an id no other way), so the list is searched only for
/// ids in `l`, and those sit near its head.
const ACK: &str = r#"
local now = tonumber(ARGV[1])
expire(now)
local want, left = {}, 0
for i = 2, #ARGV do
  local id = ARGV[i]
  if not want[id] and redis.call('ZSCORE', l, id) then want[id] = true left = left + 1 end
end
local found, start = {}, 0
while left > 0 do
  local vs = redis.call('LRANGE', q, start, start + 99)
  if #vs == 0 then break end
  for _, v in ipairs(vs) do
    local id = string.sub(v, 11, 26)
    if want[id] and not found[id] then found[id] = v left = left - 1 end
  end
  start = start + 100
end
local out = {}
for i = 2, #ARGV do
  local v = found[ARGV[i]]
  if v then drop(v, ARGV[i]) found[ARGV[i]] = nil table.insert(out, 1) else table.insert(out, 0) end
end
return out
"#;

/// KEYS: q l. ARGV: now. Returns {queue length, earliest lease end after now or -1}.
const INSPECT: &str = r#"
local now = tonumber(ARGV[1])
expire(now)
local next = redis.call('ZRANGEBYSCORE', l, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
return {redis.call('LLEN', q), next[2] or '-1'}
"#;

/// KEYS: identity. ARGV: expected length, new length, record, bell
/// channel, invalidation message, head of the new log. Publishes the
/// invalidation so every node drops its cached copy.
const PUT_IDENTITY: &str = r#"
local len = tonumber(redis.call('HGET', KEYS[1], 'len') or '0')
if len ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'len', ARGV[2], 'head', ARGV[6], 'rec', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
"#;

/// KEYS: identity, then the client's nonce keys (one slot). ARGV: field,
/// now. Returns {live nonce value or '', head of the stored log or ''}.
const PRECHECK: &str = r#"
return {seen(2, ARGV[1], tonumber(ARGV[2])) or '', redis.call('HGET', KEYS[1], 'head') or ''}
"#;

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
        }
    }
}
