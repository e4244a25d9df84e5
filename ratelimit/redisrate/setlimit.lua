-- set limit: store (ARGV[3] a limit string "interval T I O R" whose interval is
-- ARGV[1]) or remove (ARGV[3] empty) the override in KEYS[3], refusing to store one
-- whose interval is not the one the reserving processes wrote in the hash's L (no
-- process would count it). Returns {1, the override it replaced or ''} or {0, the
-- processes' interval} (refused: nothing changed). Keys of another type are left alone.
local t = redis.call('TYPE', KEYS[3])['ok']
if t ~= 'none' and t ~= 'string' then
  error('spendguard: ' .. KEYS[3] .. ' holds a ' .. t .. ', not a rate limit')
end
t = redis.call('TYPE', KEYS[1])['ok']
if t ~= 'none' and t ~= 'hash' then
  error('spendguard: ' .. KEYS[1] .. ' holds a ' .. t .. ', not a rate limit window')
end
local own = redis.call('HGET', KEYS[1], 'L')
if own and ARGV[3] ~= '' then
  local oi = limits(own, KEYS[1])
  if oi ~= I then return {0, d(oi)} end
end
local old = redis.call('GET', KEYS[3]) or ''
if ARGV[3] == '' then
  redis.call('DEL', KEYS[3])
else
  redis.call('SET', KEYS[3], ARGV[3])
end
return {1, old}
