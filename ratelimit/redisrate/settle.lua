-- settle: replace a hold's estimate with its usage, once. ARGV[3] reservation id,
-- ARGV[4] its slot, ARGV[5], ARGV[6] its estimate (input, output), ARGV[7], ARGV[8]
-- the usage; a usage of 0 and 0 gives back the whole hold, its request included.
-- ARGV[9] > 0 pauses the limit until that many ms from now (a provider's Retry-After).
-- Returns 1 when it settled the hold, 0 when there was none (settled already, or its
-- slot no longer counts anywhere).
local ra = tonumber(ARGV[9])
if ra > 0 then
  local now = now_ms()
  local f = redis.call('HMGET', KEYS[1], 't', 'p', 'x')
  local tail, pause = num(f[1], 'latest admission'), num(f[2], 'pause')
  if now + ra > pause then
    redis.call('HSET', KEYS[1], 'p', d(now + ra))
    keep(tail, now + ra, num(f[3], 'expiry'))
  end
end
if redis.call('ZREM', KEYS[2], ARGV[3] .. ':' .. ARGV[4] .. ':' .. ARGV[5] .. ':' .. ARGV[6]) == 0 then
  return 0
end
local field = '#' .. ARGV[4]
local f = redis.call('HMGET', KEYS[1], field, 'si', 'so', 'sr', 'q', 'v')
local ui, uo = tonumber(ARGV[7]), tonumber(ARGV[8])
local release = ui == 0 and uo == 0
local w = {}
if f[1] then
  local a, b, c = parse(field, f[1])
  local si, so, sr = num(f[2], 'input sum'), num(f[3], 'output sum'), num(f[4], 'request sum')
  local na, nb, nc = math.max(a - tonumber(ARGV[5]), 0), math.max(b - tonumber(ARGV[6]), 0), c
  if release then nc = math.max(c - 1, 0) else na, nb = na + ui, nb + uo end
  si, so, sr = si - a + na, so - b + nb, sr - c + nc
  w = {field, d(na) .. ' ' .. d(nb) .. ' ' .. d(nc), 'si', d(si), 'so', d(so), 'sr', d(sr)}
end
if release and f[5] == ARGV[3] and f[6] then
  -- The latest admission gave its place back: the next call need not queue behind it.
  w[#w + 1], w[#w + 2] = 't', f[6]
end
if #w > 0 then redis.call('HSET', KEYS[1], unpack(w)) end
return 1
