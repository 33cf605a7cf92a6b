//! The Lua scripts of the Redis store. Each runs atomically on the server,
//! so a step that reads and writes (claim a nonce and queue a message; take
//! and lease; ack) cannot interleave with another node's.
//!
//! A recipient R's queue is three keys with the hash tag `{R}`:
//! `q` (LIST of message ids, oldest first), `m` (HASH id -> stored message:
//! its members one a line, `expires_at`, `sender_id` and `in_reply_to`
//! first, the body last), and `l` (ZSET id -> lease end). Lifetime is constant, so the list is in expiry order and
//! expired messages are dropped from its head by every script that touches
//! the queue; the keys themselves expire with their newest message, so an
//! idle queue costs nothing.

/// Shared helpers, prepended to the scripts that touch a queue.
const PRELUDE: &str = r#"
local q, m, l = KEYS[1], KEYS[2], KEYS[3]
local function meta(v)
  local e, s, r = string.match(v, '^(%d+)\n([^\n]*)\n([^\n]*)\n')
  return tonumber(e), s, r
end
local function expire(now)
  while true do
    local id = redis.call('LINDEX', q, 0)
    if not id then return end
    local v = redis.call('HGET', m, id)
    if v and meta(v) > now then return end
    redis.call('LPOP', q)
    if v then redis.call('HDEL', m, id) end
    redis.call('ZREM', l, id)
  end
end
local function leased(id, now)
  local u = redis.call('ZSCORE', l, id)
  return u and tonumber(u) > now
end
"#;

/// KEYS: q m l nonce. ARGV: id, stored, max_queue, nonce_px, nonce_value,
/// expires_at, now, bell_channel, recipient.
/// Returns {'used', old nonce value} | {'full'} | {'queued'}.
const SEND: &str = r#"
local old = redis.call('GET', KEYS[4])
if old then return {'used', old} end
local now = tonumber(ARGV[7])
expire(now)
if redis.call('LLEN', q) >= tonumber(ARGV[3]) then return {'full'} end
redis.call('SET', KEYS[4], ARGV[5], 'PX', ARGV[4])
redis.call('HSET', m, ARGV[1], ARGV[2])
redis.call('RPUSH', q, ARGV[1])
for _, k in ipairs({q, m, l}) do redis.call('PEXPIREAT', k, ARGV[6]) end
redis.call('PUBLISH', ARGV[8], ARGV[9])
return {'queued'}
"#;

/// Redis Cluster: the sender's nonce lives in another slot, so it was
/// claimed just before (value `p <id>`), and this script deduplicates by
/// message id in the recipient's slot instead: a retry after a crash between
/// the two steps queues the message once, and is answered as a duplicate
/// once it is queued.
/// KEYS: q m l dedup. ARGV: id, stored, max_queue, window_px, "received expires",
/// expires_at, now, bell_channel, recipient.
/// Returns {'dup', "received expires"} | {'full'} | {'queued'}.
const SEND_CLUSTER: &str = r#"
local seen = redis.call('GET', KEYS[4])
if seen then return {'dup', seen} end
local now = tonumber(ARGV[7])
expire(now)
if redis.call('LLEN', q) >= tonumber(ARGV[3]) then return {'full'} end
redis.call('SET', KEYS[4], ARGV[5], 'PX', ARGV[4])
redis.call('HSET', m, ARGV[1], ARGV[2])
redis.call('RPUSH', q, ARGV[1])
for _, k in ipairs({q, m, l}) do redis.call('PEXPIREAT', k, ARGV[6]) end
redis.call('PUBLISH', ARGV[8], ARGV[9])
return {'queued'}
"#;

/// KEYS: nonce. ARGV: value. Frees a claimed nonce if it still holds value.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
"#;

/// KEYS: q m l. ARGV: max, lease_until (0: remove), now.
/// Returns the stored values handed out, oldest first.
const TAKE: &str = r#"
local max, lease, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
expire(now)
local out, gone, start = {}, {}, 0
while #out < max do
  local ids = redis.call('LRANGE', q, start, start + 199)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    if #out >= max then break end
    if not leased(id, now) then
      local v = redis.call('HGET', m, id)
      if v then
        table.insert(out, v)
        if lease > 0 then redis.call('ZADD', l, lease, id) else table.insert(gone, id) end
      end
    end
  end
  start = start + 200
end
for _, id in ipairs(gone) do
  redis.call('LREM', q, 1, id); redis.call('HDEL', m, id); redis.call('ZREM', l, id)
end
return out
"#;

/// KEYS: q m l. ARGV: sender, reply_to, now. Removes and returns the oldest
/// deliverable message from sender, preferring a reply to reply_to.
const TAKE_REPLY: &str = r#"
local sender, reply_to, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
expire(now)
local first, pick, start = nil, nil, 0
while not pick do
  local ids = redis.call('LRANGE', q, start, start + 199)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    if not leased(id, now) then
      local v = redis.call('HGET', m, id)
      if v then
        local _, s, r = meta(v)
        if s == sender then
          if r == reply_to then pick = id break end
          if not first then first = id end
        end
      end
    end
  end
  start = start + 200
end
pick = pick or first
if not pick then return false end
local v = redis.call('HGET', m, pick)
redis.call('LREM', q, 1, pick); redis.call('HDEL', m, pick); redis.call('ZREM', l, pick)
return v
"#;

/// KEYS: q m l. ARGV: now, ids... Returns a 1/0 flag per id (removed or not).
const ACK: &str = r#"
expire(tonumber(ARGV[1]))
local out = {}
for i = 2, #ARGV do
  if redis.call('HDEL', m, ARGV[i]) == 1 then
    redis.call('LREM', q, 1, ARGV[i]); redis.call('ZREM', l, ARGV[i])
    table.insert(out, 1)
  else
    table.insert(out, 0)
  end
end
return out
"#;

/// KEYS: q m l. ARGV: now. Returns {queue length, earliest lease end after now or -1}.
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

/// KEYS: nonce, identity (one client's slot). Returns {nonce record or '',
/// head of the stored log or ''}.
const PRECHECK: &str = r#"
return {redis.call('GET', KEYS[1]) or '', redis.call('HGET', KEYS[2], 'head') or ''}
"#;

pub(super) struct Scripts {
    pub precheck: redis::Script,
    pub send: redis::Script,
    pub send_cluster: redis::Script,
    pub release: redis::Script,
    pub take: redis::Script,
    pub take_reply: redis::Script,
    pub ack: redis::Script,
    pub inspect: redis::Script,
    pub put_identity: redis::Script,
}

impl Scripts {
    pub fn new() -> Self {
        let q = |body: &str| redis::Script::new(&format!("{PRELUDE}{body}"));
        Self {
            precheck: redis::Script::new(PRECHECK),
            send: q(SEND),
            send_cluster: q(SEND_CLUSTER),
            release: redis::Script::new(RELEASE),
            take: q(TAKE),
            take_reply: q(TAKE_REPLY),
            ack: q(ACK),
            inspect: q(INSPECT),
            put_identity: redis::Script::new(PUT_IDENTITY),
        }
    }
}
