-- settle: free a hold if it is still live, and charge its usage, once per id.
-- ARGV[3] reservation id, ARGV[4] usage.
-- Returns {1, 1} when this call freed the live hold, {1, 0} when the lease had
-- already reclaimed it (the usage is charged, nothing is freed), and {0, 0} when
-- there was nothing to settle: a duplicate.
local id, usage = ARGV[3], tonumber(ARGV[4])
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
  reclaim(ids)
end
local live = 0
if f[4] then
  live = 1
  h = h - size
  if h < 0 then h = 0 end
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[1], id)
elseif redis.call('ZREM', KEYS[3], id) == 0 then
  hset(w) -- a duplicate: only the reclaim, if any, takes effect
  if nxt then touch() end
  return {0, 0}
end
c = c + usage
if c > MAXC then c = MAXC end
w.c, w.h = str(c), str(h)
hset(w)
touch()
return {1, live}
