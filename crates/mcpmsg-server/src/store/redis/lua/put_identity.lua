
local len = tonumber(redis.call('HGET', KEYS[1], 'len') or '0')
if len ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'len', ARGV[2], 'head', ARGV[6], 'rec', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
