-- settle: free a hold if it is still live, and charge its usage, once per hold.
-- ARGV[3] reservation id, ARGV[4] its size, ARGV[5] usage.
-- Returns {1, 1} when this call freed the live hold, {1, 0} when the lease had
-- already reclaimed it (the usage is charged, nothing is freed), and {0, 0} when
-- there was nothing to settle: a duplicate.
local m, size, usage = ARGV[3] .. ':' .. ARGV[4], tonumber(ARGV[4]), tonumber(ARGV[5])
local f = redis.call('HMGET', KEYS[1], 'c', 'h')
local c, h = count(f[1], 'consumed'), count(f[2], 'held')
local live = redis.call('ZREM', KEYS[2], m)
if live == 1 then
  h = h - size
  if h < 0 then h = 0 end
elseif redis.call('ZREM', KEYS[3], m) == 0 then
  return {0, 0}
end
c = c + usage
if c > MAXC then c = MAXC end
redis.call('HSET', KEYS[1], 'c', str(c), 'h', str(h))
if not (f[1] or f[2]) then expire(KEYS[1]) end
return {1, live}
