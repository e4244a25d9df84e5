-- snapshot: reclaim expired holds, then report {consumed, held}.
local f = redis.call('HMGET', KEYS[1], 'c', 'h', 'n')
local c, h = count(f[1], 'consumed'), count(f[2], 'held')
local ids, freed, nxt = scan(tonumber(f[3]), nil)
if nxt then
  h = h - freed
  if h < 0 then h = 0 end
  reclaim(ids)
  hset({ h = str(h), n = str(nxt) })
  touch()
end
return {c, h}
