local z, e, presence = KEYS[1], KEYS[2], KEYS[3]
local me = ARGV[1]
local now, offline_before = tonumber(ARGV[3]), tonumber(ARGV[4])
local seed, scan, max_queue = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local grace_before = tonumber(ARGV[9])
local my_blocks = {}
for id in string.gmatch(ARGV[10], '[^,]+') do my_blocks[id] = true end
local entry = cjson.decode(ARGV[2])
local rematch = ARGV[11] == '1'
if rematch then
  -- Only for the very entry still waiting, and a client still online.
  local raw = redis.call('HGET', e, me)
  if not raw or cjson.decode(raw)['consent']['nonce'] ~= entry['consent']['nonce'] then return {'gone'} end
  local seen = tonumber(redis.call('HGET', presence, me) or '-1')
  if seen >= 0 and seen < offline_before then
    redis.call('ZREM', z, me)
    redis.call('HDEL', e, me)
    return {'gone'}
  end
end
redis.call('ZREM', z, me)
redis.call('HDEL', e, me)
local waited = entry['entered_at'] < grace_before
local mine, mine_any = {}, false
for tag in string.gmatch(ARGV[8], '[^,]+') do mine[tag] = true; mine_any = true end
local best, best_score = {}, -1
local scanned, start = 0, 0
while scanned < scan do
  local ids = redis.call('ZRANGE', z, start, start + scan - 1)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    if scanned >= scan then break end
    local raw = redis.call('HGET', e, id)
    local keep = false
    if raw then
      local w = cjson.decode(raw)
      local seen = tonumber(redis.call('HGET', presence, id) or '-1')
      keep = w['until'] > now and (seen < 0 or seen >= offline_before)
      if keep then
        local score = 0
        for _, t in ipairs(w['interests']) do
          if mine[t] then score = score + 1 end
        end
        local blocked = my_blocks[id] or false
        for _, b in ipairs(w['blocked'] or {}) do
          if b == me then blocked = true end
        end
        local eligible = (not blocked) and ((not mine_any) or #w['interests'] == 0 or waited
          or w['entered_at'] < grace_before or score > 0)
        if not eligible then
          -- kept, not a candidate
        elseif score > best_score then
          best, best_score = {id}, score
        elseif score == best_score then
          best[#best + 1] = id
        end
        scanned = scanned + 1
      end
    end
    if keep then
      start = start + 1
    else
      redis.call('ZREM', z, id)
      redis.call('HDEL', e, id)
    end
  end
end
if #best > 0 then
  local pick = best[(seed % #best) + 1]
  local raw = redis.call('HGET', e, pick)
  redis.call('ZREM', z, pick)
  redis.call('HDEL', e, pick)
  return {'paired', raw}
end
if not rematch and redis.call('ZCARD', z) >= max_queue then return {'full'} end
-- Ordered by entry, so a rematch keeps its place.
redis.call('ZADD', z, entry['entered_at'], me)
redis.call('HSET', e, me, ARGV[2])
return {'waiting'}
