-- ARGV[1]: the log length a room's membership was read at (KEYS[1] is its
-- log), or 'b' for a broadcast: no log (KEYS[1] unused), and each
-- recipient's block set follows its queue keys.
local broadcast = ARGV[1] == 'b'
if not broadcast and redis.call('LLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return {'moved'} end
local stride = broadcast and 4 or 3
local now = tonumber(ARGV[7])
local nonce_keys = tonumber(ARGV[13])
for i = 2, 1 + nonce_keys do
  local v = redis.call('HGET', KEYS[i], ARGV[2])
  if v and int(v, 1, 6) > now then return {'used', v} end
end
local out = {'sent'}
local rung = {}
local first = 2 + nonce_keys
for j = 14, #ARGV do
  local k = first + (j - 14) * stride
  -- The queue helpers work on q, l, s: point them at this member's queue.
  q, l, s = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  expire(now)
  if broadcast and redis.call('SISMEMBER', KEYS[k + 3], ARGV[10]) == 1 then
    out[#out + 1] = 'blocked'
  elseif redis.call('LLEN', q) >= tonumber(ARGV[11]) then
    out[#out + 1] = 'full'
  elseif not share_left(ARGV[10], tonumber(ARGV[12])) then
    out[#out + 1] = 'share'
  else
    push(ARGV[5], ARGV[10], tonumber(ARGV[6]), now)
    rung[#rung + 1] = ARGV[j]
    out[#out + 1] = 'queued'
  end
end
-- One doorbell for every member queued: each node parses one message, not one per member.
if #rung > 0 then redis.call('PUBLISH', ARGV[8], ARGV[9] .. ' ' .. table.concat(rung, ' ')) end
-- A message no member could take is refused whole: its nonce stays free.
local taken = #out == 1
for i = 2, #out do
  if out[i] == 'queued' then taken = true end
end
if taken then remember(KEYS[2], ARGV[2], ARGV[3], tonumber(ARGV[4])) end
return out
