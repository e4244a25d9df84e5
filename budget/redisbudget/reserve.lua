-- reserve: grant as much as is left between min and max, or nothing.
-- ARGV[1] capacity, ARGV[2] min, ARGV[3] max, ARGV[4] reservation id,
-- ARGV[5] lease (ms), ARGV[6] window key TTL (ms, 0: none).
-- Returns {1, granted, remaining after} or {0, remaining}.
local cap, lo, hi = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local id, lease, ttl = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local now = now_ms()
local ids, freed = expired(now, nil)
local f = redis.call('HMGET', KEYS[1], 'c', 'h', id)
local c, h = count(f[1], 'consumed'), count(f[2], 'held') - freed
if h < 0 then h = 0 end
local function left()
  if c + h < cap then return cap - c - h end
  return 0
end
reclaim(ids)
if f[3] then
  -- A retry (by the client library, after a lost reply) of a reserve that already
  -- took effect: report the same grant instead of holding it twice.
  if #ids > 0 then redis.call('HSET', KEYS[1], 'h', str(h)) end
  return {1, count(f[3], 'hold'), left()}
end
local rem = left()
if rem == 0 or rem < lo then
  if #ids > 0 then redis.call('HSET', KEYS[1], 'h', str(h)) end
  return {0, rem}
end
local g = hi
if g > rem then g = rem end
h = h + g
redis.call('HSET', KEYS[1], 'h', str(h), id, str(g))
redis.call('ZADD', KEYS[2], now + lease, id)
touch(ttl)
return {1, g, rem - g}
