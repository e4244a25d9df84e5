-- snapshot: reclaim expired holds, then report {consumed, held, capacity in force,
-- 1 if that capacity is the override in KEYS[4] else 0}. ARGV[3] default capacity.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local f = redis.call('HMGET', KEYS[1], 'c', 'h', 'n')
local c, h = count(f[1], 'consumed'), count(f[2], 'held')
local cap, src = limit(tonumber(ARGV[3]))
local freed, nxt = reclaim(now, tonumber(f[3]))
if freed then
  h = h - freed
  if h < 0 then h = 0 end
  redis.call('HSET', KEYS[1], 'h', str(h), 'n', str(nxt))
  if not (f[1] or f[2] or f[3]) then expire(KEYS[1]) end
end
return {c, h, cap, src}
