
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
