-- settle: free a hold (if it is still live) and charge its usage, once per id.
-- KEYS[3] the settle marker of this reservation.
-- ARGV[1] reservation id, ARGV[2] usage, ARGV[3] marker TTL (ms),
-- ARGV[4] window key TTL (ms, 0: none).
-- Returns {1, live} when this call settled (live = 1 when it freed the hold, 0 when
-- the lease had already reclaimed it) or {0, 0} for a duplicate.
local id, usage = ARGV[1], tonumber(ARGV[2])
local now = now_ms()
-- The hold being settled is freed below, never by the reclaim of this same call.
local ids, freed = expired(now, id)
local f = redis.call('HMGET', KEYS[1], 'c', 'h', id)
local c, h = count(f[1], 'consumed'), count(f[2], 'held') - freed
local done = redis.call('EXISTS', KEYS[3])
reclaim(ids)
if done == 1 then
  if #ids > 0 then redis.call('HSET', KEYS[1], 'h', str(h)) end
  return {0, 0}
end
local live = 0
if f[3] then
  live = 1
  h = h - count(f[3], 'hold')
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
if h < 0 then h = 0 end
c = c + usage
if c > MAXC then c = MAXC end
redis.call('HSET', KEYS[1], 'c', str(c), 'h', str(h))
redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
touch(tonumber(ARGV[4]))
return {1, live}
