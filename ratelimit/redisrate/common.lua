-- Shared prelude of the rate limit scripts, concatenated in front of each one so that
-- a script is one self-contained EVAL.
--
-- KEYS[1]  the limit's window, a hash:
--          #<k> = "input output requests" admitted in slot k, that is from k*width
--               to (k+1)*width ms (Redis TIME), and not given back. A slot counts at
--               instant T while (k+1)*width > T - interval.
--          si, so, sr = the sums of every #<k> field; o = the oldest slot's k (absent
--               when there is none). While slot o still counts, no slot needs
--               dropping and a call that fits the sums is admitted without reading
--               the slots: most calls read and write a few fields only.
--          t = the latest admission (ms): no call is admitted before it, so calls
--               are admitted in the order their scripts run; q = its reservation id
--               and v = the admission before it (t goes back to v when q gives its
--               place back); p = paused until (ms): a provider's Retry-After;
--          x = when both keys expire (ms), pushed on as admissions move on;
--          L = the limit of the reserving process, "interval T I O R" (ms, then the
--               tokens, input, output and requests counts, 0: none), for operators
--               (cmd/spendguard): written when it changes, as the last process wrote it.
-- KEYS[2]  the holds not yet settled, a sorted set: member "id:k:input:output" (the
--          estimate), score = the ms from which its slot counts nowhere. A settle
--          removes it, so a second settle finds nothing; past its score a settle could
--          change nothing, and the next full read of the window forgets it: a process
--          that dies holding reservations leaks nothing beyond its slots' interval.
-- KEYS[3]  (reserve, set limit) the limit's override, a string "interval T I O R" as L,
--          set by an operator (redisrate.SetLimit, `spendguard rate set`) and never
--          expiring: a reserve whose interval is the override's counts the override's
--          counts in place of its own.
-- ARGV[1]  interval (ms), ARGV[2] slot width (ms).
--
-- Counts are integers below 2^53 (exact in Lua's doubles) written with %d. Reads come
-- before writes, so a key of the wrong type fails a script before it changes anything.

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
  if not a then error('spendguard: corrupt slot ' .. field .. ' in ' .. KEYS[1] .. ': ' .. v) end
  return tonumber(a), tonumber(b), tonumber(c)
end

-- keep makes both keys outlive the later of the latest admission and the pause by an
-- interval, a slot and a second; x is when they expire now. It writes only when that
-- is too soon, and then sets it an interval later, so that most calls do not.
-- limits parses a limit string ("interval T I O R") found in key or field where.
local function limits(v, where)
  local i, a, b, c, e = string.match(v, '^(%d+) (%d+) (%d+) (%d+) (%d+)$')
  if not i then error('spendguard: corrupt limit in ' .. where .. ': ' .. v) end
  return tonumber(i), tonumber(a), tonumber(b), tonumber(c), tonumber(e)
end

local function keep(tail, pause, x)
  local need = math.max(tail, pause) + I + W + 1000
  if x >= need then return end
  x = need + I
  redis.call('HSET', KEYS[1], 'x', d(x))
  redis.call('PEXPIREAT', KEYS[1], x)
  redis.call('PEXPIREAT', KEYS[2], x)
end
