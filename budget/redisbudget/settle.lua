-- settle: free a hold if it is still live, and charge its usage, once per hold.
-- ARGV[3] reservation id, ARGV[4] its size, ARGV[5] usage. With alerts (WithAlerts):
-- ARGV[6] the default capacity and ARGV[7..] the alert fractions, ascending, and
-- KEYS[4] the capacity override.
-- Returns {1, 1} when this call freed the live hold, {1, 0} when the lease had
-- already reclaimed it (the usage is charged, nothing is freed), and {0, 0} when
-- there was nothing to settle: a duplicate. With alerts a settle that took effect
-- returns {1, live, consumed, held, capacity in force, claimed...}, claimed being the
-- indexes (1-based) of the fractions it was the first to reach in the window.
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
if not ARGV[6] then return {1, live} end
-- Alerts: a fraction reached is claimed once per window (a field of the window's
-- hash, "a:<fraction>") by whichever settle of the fleet first sees it reached.
local cap = limit(tonumber(ARGV[6]))
local out = {1, live, c, h, cap}
if usage > 0 then
  for i = 7, #ARGV do
    local at = math.ceil(tonumber(ARGV[i]) * cap)
    if at < 1 then at = 1 end
    if c < at then break end
    if redis.call('HSETNX', KEYS[1], 'a:' .. ARGV[i], '1') == 1 then out[#out + 1] = i - 6 end
  end
end
return out
