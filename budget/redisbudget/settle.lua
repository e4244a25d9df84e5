-- settle: free a hold (if it is still live) and charge its usage, once per id.
-- KEYS[3] the settle marker of this reservation.
-- ARGV[1] reservation id, ARGV[2] usage, ARGV[3] marker TTL (ms),
-- ARGV[4] window key TTL (ms, 0: none).
-- Returns {1, live} when this call settled (live = 1 when it freed the hold, 0 when
-- the lease had already reclaimed it) or {0, 0} for a duplicate.
local id, usage = ARGV[1], tonumber(ARGV[2])
local f = redis.call('HMGET', KEYS[1], 'c', 'h', 'n', id)
local c, h = count(f[1], 'consumed'), count(f[2], 'held')
local size = count(f[4], 'hold')
-- The hold being settled is freed below, never by a reclaim of this same call.
local ids, freed, nxt = scan(tonumber(f[3]), id)
local w = {}
if nxt then
  w.n = str(nxt)
  h = h - freed
  if h < 0 then h = 0 end
  w.h = str(h)
end
reclaim(ids)
if not redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[3]) then
  hset(w) -- a duplicate: only the reclaim, if any, takes effect
  return {0, 0}
end
local live = 0
if f[4] then
  live = 1
  h = h - size
  if h < 0 then h = 0 end
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[1], id)
end
c = c + usage
if c > MAXC then c = MAXC end
w.c, w.h = str(c), str(h)
hset(w)
touch(tonumber(ARGV[4]))
return {1, live}
