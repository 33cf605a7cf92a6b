
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
