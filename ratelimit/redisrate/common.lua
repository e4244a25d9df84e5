-- Shared prelude of the rate limit scripts, concatenated in front of each one so that
-- a script is one self-contained EVAL.
--
-- KEYS[1]  the limit's state, a hash: t = the latest admission (Redis TIME, ms): no
--          call is admitted before it, so calls are admitted in the order their
--          scripts run; q = that admission's reservation id and v = the admission
--          before it (t goes back to v when q gives its place back); p = paused until
--          (ms): a provider's Retry-After.
-- KEYS[2]  the window's slots, a hash: field k (slot number: admission ms / width)
--          = "input output requests" admitted in [k*width, (k+1)*width) and not given
--          back. A slot counts at instant T while (k+1)*width > T - interval.
-- KEYS[3]  the live holds, a sorted set: member "id:k:input:output" (the estimate),
--          score = the ms at which its slot stops counting anywhere. A settle removes
--          it, so a second settle finds nothing; once the score has passed, its
--          settle could change nothing and the next reserve forgets it: a process
--          that dies holding reservations leaks nothing beyond its slots' interval.
-- ARGV[1]  interval (ms), ARGV[2] slot width (ms).
--
-- Counts are integers below 2^53 (exact in Lua's doubles) written with %d.

local I, W = tonumber(ARGV[1]), tonumber(ARGV[2])

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function num(v, what)
  if not v then return 0 end
  local n = tonumber(v)
  if not n or n < 0 or n ~= math.floor(n) then
    error('spendguard: corrupt ' .. what .. ' in ' .. KEYS[1] .. ': ' .. tostring(v))
  end
  return n
end

local function d(n)
  if n <= 0 then return '0' end
  return string.format('%d', n)
end

local function parse(field, v)
  local a, b, c = string.match(v, '^(%d+) (%d+) (%d+)$')
  if not a then error('spendguard: corrupt slot ' .. field .. ' in ' .. KEYS[2] .. ': ' .. v) end
  return tonumber(a), tonumber(b), tonumber(c)
end

-- keep gives every key the TTL of the limit's state: until the later of the latest
-- admission and the pause, plus an interval, a slot and a second.
local function keep(now, tail, pause)
  local ttl = math.max(tail, pause) - now + I + W + 1000
  for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
