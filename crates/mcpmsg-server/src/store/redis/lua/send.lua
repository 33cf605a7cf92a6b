
if ARGV[10] ~= '' and redis.call('HGET', KEYS[5], 'head') ~= ARGV[10] then return {'stale'} end
local now = tonumber(ARGV[6])
local old = seen(6, ARGV[9], now)
if old then return {'used', old} end
if redis.call('SISMEMBER', KEYS[4], ARGV[11]) == 1 then return {'blocked'} end
expire(now)
if redis.call('LLEN', q) >= tonumber(ARGV[2]) then return {'full'} end
if not share_left(ARGV[11], tonumber(ARGV[12])) then return {'share'} end
remember(KEYS[6], ARGV[9], ARGV[4], tonumber(ARGV[3]))
push(ARGV[1], ARGV[11], tonumber(ARGV[5]), now)
redis.call('PUBLISH', ARGV[7], ARGV[8])
return {'queued'}
