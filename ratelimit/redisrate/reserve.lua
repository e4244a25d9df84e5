-- reserve: admit a call of ARGV[7] input and ARGV[8] output tokens and one request
-- at the first instant, no earlier than now, the latest admission and the pause, at
-- which it fits the limit (ARGV[3..6]: tokens, input, output, requests per interval;
-- 0: none), unless that is more than ARGV[9] ms away (-1: no bound). ARGV[10] is the
-- reservation id.
-- Returns {1, admission ms, wait ms}, {0, wait ms} (it would wait too long; nothing
-- is held) or {-1} (it can never fit).
local LT, LI, LO, LR = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ei, eo, maxwait = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local function fits(si, so, sr)
  return (LT == 0 or si + so + ei + eo <= LT) and (LI == 0 or si + ei <= LI)
    and (LO == 0 or so + eo <= LO) and (LR == 0 or sr + 1 <= LR)
end
if (LT > 0 and ei + eo > LT) or (LI > 0 and ei > LI) or (LO > 0 and eo > LO) then return {-1} end

local now = now_ms()
local st = redis.call('HMGET', KEYS[1], 't', 'p')
local tail, pause = num(st[1], 'latest admission'), num(st[2], 'pause')
local t0 = math.max(now, tail, pause)
-- Every later admission is at t0 or after, so slots that no longer count at t0 never
-- will again.
local raw = redis.call('HGETALL', KEYS[2])
local slots, gone = {}, {}
local si, so, sr = 0, 0, 0
for i = 1, #raw, 2 do
  local k = num(raw[i], 'slot number')
  local a, b, c = parse(raw[i], raw[i + 1])
  if (k + 1) * W <= t0 - I then
    gone[#gone + 1] = raw[i]
  else
    slots[#slots + 1] = {k, a, b, c}
    si, so, sr = si + a, so + b, sr + c
  end
end
local at = t0
if not fits(si, so, sr) then
  table.sort(slots, function(x, y) return x[1] < y[1] end)
  for _, s in ipairs(slots) do
    si, so, sr = si - s[2], so - s[3], sr - s[4]
    if fits(si, so, sr) then
      at = (s[1] + 1) * W + I
      break
    end
  end
end
local wait = at - now
if #gone > 0 then redis.call('HDEL', KEYS[2], unpack(gone)) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if maxwait >= 0 and wait > maxwait then return {0, wait} end

local k = math.floor(at / W)
local a, b, c = 0, 0, 0
local v = redis.call('HGET', KEYS[2], d(k))
if v then a, b, c = parse(d(k), v) end
redis.call('HSET', KEYS[2], d(k), d(a + ei) .. ' ' .. d(b + eo) .. ' ' .. d(c + 1))
redis.call('ZADD', KEYS[3], (k + 1) * W + I, ARGV[10] .. ':' .. d(k) .. ':' .. ARGV[7] .. ':' .. ARGV[8])
redis.call('HSET', KEYS[1], 't', d(at), 'q', ARGV[10], 'v', d(tail))
keep(now, at, pause)
return {1, at, wait}
