local names, p = KEYS[1], KEYS[2]
local me, vfield, record, wanted = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local max_names, max_versions, asks_co_owners = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7] == '1'
local owner_raw = redis.call('HGET', p, 'owner')
if not owner_raw then
  if redis.call('ZCARD', names) >= max_names then return {'names_full'} end
  redis.call('HSET', p, 'owner', wanted, vfield, record)
  redis.call('ZADD', names, 0, ARGV[8])
  return {'registered', wanted}
end
local owners = cjson.decode(owner_raw)
local is_owner = owners['owner'] == me
if not is_owner then
  local co = false
  for _, c in ipairs(owners['co_owners']) do
    if c == me then co = true end
  end
  if not co or asks_co_owners then return {'not_owner', owner_raw} end
end
if redis.call('HEXISTS', p, vfield) == 1 then return {'exists'} end
if redis.call('HLEN', p) - 1 >= max_versions then return {'versions_full'} end
redis.call('HSET', p, vfield, record)
if is_owner then
  redis.call('HSET', p, 'owner', wanted)
  return {'registered', wanted}
end
return {'registered', owner_raw}
