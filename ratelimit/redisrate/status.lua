-- status: read one limit, writing nothing. Returns {now ms, the override or '', the
-- window hash as HGETALL, the live holds' members (their slot counts after now)}.
local now = now_ms()
local ov = redis.call('GET', KEYS[3]) or ''
return {d(now), ov, redis.call('HGETALL', KEYS[1]), redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. d(now), '+inf')}
