-- reset: start a window over. Consumed becomes 0; held and the holds are untouched,
-- so holds in flight still settle, once, and charge their usage to the fresh count.
-- Returns the consumed it cleared, or -1 when the window's hash does not exist (a
-- reset never creates one: it would have no TTL).
local f = fields() -- a key that is not a budget's hash fails here, unchanged
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local c = count(f['c'], 'consumed')
redis.call('HSET', KEYS[1], 'c', '0')
-- The window starts over, so do its alerts (WithAlerts): their claims go.
for _, k in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(k, 1, 2) == 'a:' then redis.call('HDEL', KEYS[1], k) end
end
return c
