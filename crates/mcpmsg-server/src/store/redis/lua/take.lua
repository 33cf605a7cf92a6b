
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
-- Then every live typing signal, removed whatever the mode.
local signals = redis.call('HVALS', KEYS[4])
if #signals > 0 then
  redis.call('DEL', KEYS[4])
  for _, v in ipairs(signals) do
    if meta(v) > now then out[#out + 1] = v end
  end
end
if lease > 0 and #out > 0 then
  local t = redis.call('PTTL', q)
  if t > 0 then live_until(l, t) end
end
return out
