local field, entry = ARGV[1], ARGV[2]
local ttl, now, max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local out, rung = {}, {}
for i, k in ipairs(KEYS) do
  local ok = true
  if redis.call('HLEN', k) >= max and redis.call('HEXISTS', k, field) == 0 then
    -- Full: drop what lapsed, then look again.
    local held = redis.call('HGETALL', k)
    for j = 1, #held, 2 do
      if meta(held[j + 1]) <= now then redis.call('HDEL', k, held[j]) end
    end
    ok = redis.call('HLEN', k) < max
  end
  if ok then
    redis.call('HSET', k, field, entry)
    live_until(k, ttl)
    rung[#rung + 1] = ARGV[7 + i]
    out[i] = '1'
  else
    out[i] = '0'
  end
end
if #rung > 0 then redis.call('PUBLISH', ARGV[6], ARGV[7] .. ' ' .. table.concat(rung, ' ')) end
return out
