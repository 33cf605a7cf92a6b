
if ARGV[5] ~= '' and redis.call('HGET', KEYS[1], 'head') ~= ARGV[5] then return {'stale'} end
local old = seen(2, ARGV[1], tonumber(ARGV[4]))
if old then return {'used', old} end
remember(KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3]))
return {'claimed'}
