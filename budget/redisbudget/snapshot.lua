-- snapshot: reclaim expired holds, then report {consumed, held}.
local now = now_ms()
local ids, freed = expired(now, nil)
local f = redis.call('HMGET', KEYS[1], 'c', 'h')
local c, h = count(f[1], 'consumed'), count(f[2], 'held') - freed
if h < 0 then h = 0 end
if #ids > 0 then
  reclaim(ids)
  redis.call('HSET', KEYS[1], 'h', str(h))
end
return {c, h}
