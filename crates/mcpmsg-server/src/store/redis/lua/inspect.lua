
local now = tonumber(ARGV[1])
expire(now)
local next = redis.call('ZRANGEBYSCORE', l, '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
return {redis.call('LLEN', q), next[2] or '-1'}
