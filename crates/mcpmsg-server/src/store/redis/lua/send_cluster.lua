
local seen = redis.call('GET', KEYS[4])
if seen then return {'dup', seen} end
if ARGV[11] == '1' and redis.call('SISMEMBER', KEYS[5], ARGV[9]) == 1 then return {'blocked'} end
local now = tonumber(ARGV[6])
expire(now)
if redis.call('LLEN', q) >= tonumber(ARGV[2]) then return {'full'} end
if not share_left(ARGV[9], tonumber(ARGV[10])) then return {'share'} end
redis.call('SET', KEYS[4], ARGV[4], 'PX', ARGV[3])
push(ARGV[1], ARGV[9], tonumber(ARGV[5]), now)
redis.call('PUBLISH', ARGV[7], ARGV[8])
return {'queued'}
