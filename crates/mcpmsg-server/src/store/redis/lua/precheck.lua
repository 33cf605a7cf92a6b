
return {seen(2, ARGV[1], tonumber(ARGV[2])) or '', redis.call('HGET', KEYS[1], 'head') or ''}
