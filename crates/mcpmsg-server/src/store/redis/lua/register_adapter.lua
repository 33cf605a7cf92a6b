local owner_raw = redis.call('HGET', KEYS[1], 'owner')
if not owner_raw then return {'unknown'} end
local owners = cjson.decode(owner_raw)
local me = ARGV[1]
local admitted = owners['owner'] == me
for _, c in ipairs(owners['co_owners']) do
  if c == me then admitted = true end
end
if not admitted then return {'not_owner', owner_raw} end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return {'exists'} end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[4]) then return {'full'} end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return {'registered'}
