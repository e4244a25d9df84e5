-- reserve: admit a call of ARGV[7] input and ARGV[8] output tokens and one request
-- at the first instant, no earlier than now, the latest admission and the pause, at
-- which it fits the limit (ARGV[3..6]: tokens, input, output, requests per interval;
-- 0: none), unless that is more than ARGV[9] ms away (-1: no bound). ARGV[10] is the
-- reservation id, ARGV[11] the process's own limit as the hash's L. An override in
-- KEYS[3] of the same interval replaces the counts ARGV[3..6].
-- Returns {1, admission ms, wait ms}, {0, wait ms, T, I, O, R} (it would wait too
-- long; nothing is held) or {-1, T, I, O, R} (it can never fit), with the counts in
-- force.
local LT, LI, LO, LR = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ov = redis.call('GET', KEYS[3])
if ov then
  local oi, a, b, c, e = limits(ov, KEYS[3])
  if oi == I then LT, LI, LO, LR = a, b, c, e end
end
local ei, eo, maxwait = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local function fits(si, so, sr)
  return (LT == 0 or si + so + ei + eo <= LT) and (LI == 0 or si + ei <= LI)
    and (LO == 0 or so + eo <= LO) and (LR == 0 or sr + 1 <= LR)
end
if (LT > 0 and ei + eo > LT) or (LI > 0 and ei > LI) or (LO > 0 and eo > LO) then return {-1, LT, LI, LO, LR} end

local now = now_ms()
local f = redis.call('HMGET', KEYS[1], 't', 'p', 'si', 'so', 'sr', 'o', 'x', 'L')
local tail, pause = num(f[1], 'latest admission'), num(f[2], 'pause')
local si, so, sr = num(f[3], 'input sum'), num(f[4], 'output sum'), num(f[5], 'request sum')
local o, x = f[6] and num(f[6], 'oldest slot'), num(f[7], 'expiry')
local t0 = math.max(now, tail, pause)

-- load reads every slot, drops those that no longer count at t0 (every later
-- admission is at t0 or after, so they never will again) and recounts the sums.
local slots
local function load()
  local raw = redis.call('HGETALL', KEYS[1])
  local gone = {}
  slots, si, so, sr, o = {}, 0, 0, 0, nil
  for i = 1, #raw, 2 do
    local name = raw[i]
    if string.byte(name, 1) == 35 then -- '#'
      local k = num(string.sub(name, 2), 'slot name')
      if (k + 1) * W <= t0 - I then
        gone[#gone + 1] = name
      else
        local a, b, c = parse(name, raw[i + 1])
        slots[#slots + 1] = {k, a, b, c}
        si, so, sr = si + a, so + b, sr + c
        if not o or k < o then o = k end
      end
    end
  end
  for i = 1, #gone, 1000 do
    redis.call('HDEL', KEYS[1], unpack(gone, i, math.min(i + 999, #gone)))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
end
if o and (o + 1) * W <= t0 - I then load() end

local at = t0
if not fits(si, so, sr) then
  if not slots then load() end
  if not fits(si, so, sr) then
    table.sort(slots, function(a, b) return a[1] < b[1] end)
    local ri, ro, rr = si, so, sr
    for _, s in ipairs(slots) do
      ri, ro, rr = ri - s[2], ro - s[3], rr - s[4]
      if fits(ri, ro, rr) then
        at = (s[1] + 1) * W + I
        break
      end
    end
  end
end
local wait = at - now
if maxwait >= 0 and wait > maxwait then
  if slots then -- keep the recount of what load dropped
    redis.call('HSET', KEYS[1], 'si', d(si), 'so', d(so), 'sr', d(sr))
    if o then redis.call('HSET', KEYS[1], 'o', d(o)) else redis.call('HDEL', KEYS[1], 'o') end
  end
  return {0, wait, LT, LI, LO, LR}
end

local k = math.floor(at / W)
local field = '#' .. d(k)
local a, b, c = 0, 0, 0
local v = redis.call('HGET', KEYS[1], field)
if v then a, b, c = parse(field, v) end
if not o or k < o then o = k end
local w = {field, d(a + ei) .. ' ' .. d(b + eo) .. ' ' .. d(c + 1),
  'si', d(si + ei), 'so', d(so + eo), 'sr', d(sr + 1), 'o', d(o),
  't', d(at), 'q', ARGV[10], 'v', d(tail)}
if f[8] ~= ARGV[11] then w[#w + 1], w[#w + 2] = 'L', ARGV[11] end
redis.call('HSET', KEYS[1], unpack(w))
redis.call('ZADD', KEYS[2], (k + 1) * W + I, ARGV[10] .. ':' .. d(k) .. ':' .. ARGV[7] .. ':' .. ARGV[8])
keep(at, pause, x)
return {1, at, wait}
