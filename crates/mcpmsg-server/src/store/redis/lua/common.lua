
local function int(v, i, n)
  local x = 0
  for k = i, i + n - 1 do x = x * 256 + string.byte(v, k) end
  return x
end
local function live_until(k, ms)
  if redis.call('PTTL', k) < ms then redis.call('PEXPIRE', k, ms) end
end
