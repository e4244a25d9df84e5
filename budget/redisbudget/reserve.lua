-- reserve: grant as much as is left between min and max, or nothing.
-- ARGV[3] default capacity, ARGV[4] min, ARGV[5] max, ARGV[6] reservation id,
-- ARGV[7] lease (ms), ARGV[8] window end (ms, 0: no window), ARGV[9] the call's
-- deadline in this server's TIME (ms, 0: none).
-- Returns {1, granted, remaining after, now} or {0, remaining, now}, or {-1, now} when
-- the deadline has passed (nothing is read or written then): now is TIME in ms, from
-- which the caller learns how this server's clock stands to its own.
local lo, hi = tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = tonumber(ARGV[9])
if deadline and deadline > 0 and now >= deadline then return {-1, now} end
local f = redis.call('HMGET', KEYS[1], 'c', 'h', 'n', 'd', 'l')
local c, h, n = count(f[1], 'consumed'), count(f[2], 'held'), tonumber(f[3])
local cap = limit(tonumber(ARGV[3]))
local fresh = not (f[1] or f[2] or f[3])
local freed, nxt = reclaim(now, n)
local moved = freed ~= nil -- h and n must be written
if moved then
  n = nxt
  h = h - freed
  if h < 0 then h = 0 end
end
local rem = 0
if c + h < cap then rem = cap - c - h end
local g = hi
if g > rem then g = rem end
local added = 0
if rem > 0 and rem >= lo then
  local exp = now + tonumber(ARGV[7])
  -- 0 added means a retry (by the client library, after a lost reply) of a reserve
  -- that took effect: its hold is already counted, and only its lease is renewed.
  added = redis.call('ZADD', KEYS[2], exp, ARGV[6] .. ':' .. str(g))
  if added == 1 then
    h = h + g
    if exp < n then n, moved = exp, true end
  end
  expire(KEYS[2])
end
local w = {}
if moved then
  w = {'h', str(h), 'n', str(n)}
elseif added == 1 then
  w = {'h', str(h)}
end
-- The settings operators read are written with a write the call makes anyway (so a
-- denial never creates a hash), or when a process built differently comes along.
if (#w > 0 or not fresh) and (f[4] ~= ARGV[3] or f[5] ~= ARGV[7]) then
  w[#w + 1], w[#w + 2], w[#w + 3], w[#w + 4], w[#w + 5], w[#w + 6] = 'd', ARGV[3], 'l', ARGV[7], 'e', ARGV[8]
end
if #w > 0 then redis.call('HSET', KEYS[1], unpack(w)) end
if fresh and #w > 0 then expire(KEYS[1]) end
if rem == 0 or rem < lo then return {0, rem, now} end
if added == 1 then rem = rem - g end
return {1, g, rem, now}
