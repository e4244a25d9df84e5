-- reserve: grant as much as is left between min and max, or nothing.
-- ARGV[3] capacity, ARGV[4] min, ARGV[5] max, ARGV[6] reservation id, ARGV[7] lease (ms).
-- Returns {1, granted, remaining after} or {0, remaining}.
local cap, lo, hi = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local id, lease = ARGV[6], tonumber(ARGV[7])
local f = redis.call('HMGET', KEYS[1], 'c', 'h', 'n', id)
local c, h, n = count(f[1], 'consumed'), count(f[2], 'held'), tonumber(f[3])
local ids, freed, nxt = scan(n, nil)
local w = {}
if nxt then
  n = nxt
  w.n = str(n)
  h = h - freed
  if h < 0 then h = 0 end
  w.h = str(h)
end
local rem = 0
if c + h < cap then rem = cap - c - h end
if f[4] or rem == 0 or rem < lo then
  if nxt then
    reclaim(ids)
    hset(w)
    touch()
  end
  if f[4] then
    -- A retry (by the client library, after a lost reply) of a reserve that already
    -- took effect: report the same grant instead of holding it twice.
    return {1, count(f[4], 'hold'), rem}
  end
  return {0, rem}
end
local g = hi
if g > rem then g = rem end
local exp = now + lease
redis.call('ZADD', KEYS[2], exp, id) -- first write: a lease set of the wrong type fails here
if nxt then reclaim(ids) end
w.h = str(h + g)
w[id] = str(g)
if not n or exp < n then w.n = str(exp) end
hset(w)
touch()
return {1, g, rem - g}
