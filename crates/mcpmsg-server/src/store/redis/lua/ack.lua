
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
