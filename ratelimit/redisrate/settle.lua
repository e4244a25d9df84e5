-- settle: replace a hold's estimate with its usage, once. ARGV[3] reservation id,
-- ARGV[4] its slot, ARGV[5], ARGV[6] its estimate (input, output), ARGV[7], ARGV[8]
-- the usage; a usage of 0 and 0 gives back the whole hold, its request included.
-- ARGV[9] > 0 pauses the limit until that many ms from now (a provider's Retry-After).
-- Returns 1 when it settled the hold, 0 when there was none (settled already, or its
-- slot no longer counts).
local now = now_ms()
local st = redis.call('HMGET', KEYS[1], 't', 'p')
local tail, pause = num(st[1], 'latest admission'), num(st[2], 'pause')
local ra = tonumber(ARGV[9])
if ra > 0 and now + ra > pause then
  pause = now + ra
  redis.call('HSET', KEYS[1], 'p', d(pause))
  keep(now, tail, pause)
end
if redis.call('ZREM', KEYS[3], ARGV[3] .. ':' .. ARGV[4] .. ':' .. ARGV[5] .. ':' .. ARGV[6]) == 0 then
  return 0
end
local ui, uo = tonumber(ARGV[7]), tonumber(ARGV[8])
local release = ui == 0 and uo == 0
local v = redis.call('HGET', KEYS[2], ARGV[4])
if v then
  local a, b, c = parse(ARGV[4], v)
  a, b = a - tonumber(ARGV[5]), b - tonumber(ARGV[6])
  if release then c = c - 1 else a, b = a + ui, b + uo end
  redis.call('HSET', KEYS[2], ARGV[4], d(a) .. ' ' .. d(b) .. ' ' .. d(c))
end
if release and redis.call('HGET', KEYS[1], 'q') == ARGV[3] then
  -- The latest admission gave its place back: the next call need not queue behind it.
  redis.call('HSET', KEYS[1], 't', redis.call('HGET', KEYS[1], 'v'))
end
return 1
