-- capacity: set (ARGV[1] an integer) or remove (ARGV[1] empty) the override in
-- KEYS[1]. Returns the override it replaced, or false when there was none. A key of
-- another type is left alone: it is not a spendguard capacity.
local t = redis.call('TYPE', KEYS[1])['ok']
if t ~= 'none' and t ~= 'string' then
  error('spendguard: ' .. KEYS[1] .. ' holds a ' .. t .. ', not a capacity')
end
local old = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return old
