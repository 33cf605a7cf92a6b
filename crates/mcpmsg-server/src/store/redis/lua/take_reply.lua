
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
