-- Shared prelude of every spendguard script, concatenated in front of each script's
-- own body so that a script is one self-contained EVAL.
--
-- KEYS[1]  the window's hash: c = consumed, h = held (the sum of live holds),
--          n = a lower bound of the earliest lease end (absent: unknown), and, for
--          operators (cmd/spendguard), what the reserving processes were built with:
--          d = default capacity, l = lease (ms), e = window end (ms, 0: no window);
--          and "a:<fraction>" for each alert threshold claimed in the window.
-- KEYS[2]  the window's live holds, a sorted set: member = "<reservation id>:<size>",
--          score = the Redis TIME (ms) at which its lease ends.
-- KEYS[3]  the window's reclaimed holds, a sorted set: the same members, scored with
--          the TIME until which a late settle of theirs is still charged.
-- KEYS[4]  (reserve, snapshot, settle with alerts) the budget's capacity override, a string holding an
--          integer, shared by all its windows; absent: the caller's default.
-- ARGV[1]  how long (ms) a reclaimed hold is remembered: twice the lease.
-- ARGV[2]  the TTL (ms) of the window's keys, 0 for none (an unwindowed budget).
--
-- A settle needs no marker of its own: the live hold is the proof that it has not
-- been settled, and settling removes it, so a second settle finds nothing to do. Only
-- a hold that its lease reclaimed is remembered (KEYS[3]), so that its late settle is
-- charged, once. The settle names the hold by id and size, both known to its
-- reservation, so the hash never holds one field per hold.
--
-- n spares most calls the scan of the lease set: while TIME < n no lease can have
-- ended. A reserve lowers it, a scan sets it to the earliest remaining lease, and a
-- settle leaves it (a stale, lower n only costs one scan). Settles do not reclaim:
-- every call whose result depends on what is held (reserve, snapshot) reclaims first.
--
-- Lua numbers are doubles: every count stays ≤ 2^53 (the largest capacity the Go
-- side accepts), where doubles are exact, and is written as an integer string with no
-- sign, so that a zero never becomes "-0". Reads come before writes, so that a key of
-- the wrong type fails a script before it has changed anything.
--
-- Scripts read TIME before writing, which needs effects replication: the default
-- since Redis 5, the only mode since Redis 7.

local MAXC = 9007199254740992 -- 2^53
local LIMIT = 100             -- holds reclaimed per call at most; the rest wait

local function str(v)
  if v <= 0 then return '0' end
  if v >= MAXC then return '9007199254740992' end
  return string.format('%d', v) -- Lua 5.1 formats %d from a C long: exact to 2^53
end

local function count(v, what)
  if not v then return 0 end
  local n = tonumber(v)
  if not n or n < 0 or n > MAXC or n ~= math.floor(n) then
    error('spendguard: corrupt ' .. what .. ' in ' .. KEYS[1] .. ': ' .. tostring(v))
  end
  return n
end

-- expire gives a window's key its TTL (a key that existed keeps the one it has).
local function expire(key)
  if ARGV[2] ~= '0' then redis.call('PEXPIRE', key, ARGV[2]) end
end

-- limit is the capacity in force and where it comes from: the override in KEYS[4]
-- (1), read on every call so that an operator's change takes effect on the next
-- reservation of every process, else def, the caller's default (0).
local function limit(def)
  local v = redis.call('GET', KEYS[4])
  if not v then return def, 0 end
  local n = tonumber(v)
  if not n or n < 0 or n > MAXC or n ~= math.floor(n) then
    error('spendguard: corrupt capacity in ' .. KEYS[4] .. ': ' .. tostring(v))
  end
  return n, 1
end

-- fields returns the fields of the hash KEYS[1] ({} when there is none), for the
-- operators' scripts (status, reset), or fails the script, before it has written
-- anything, when the hash is not a budget's: a field no script writes, no counters, or
-- counts that are not counts.
local function fields()
  local kv = redis.call('HGETALL', KEYS[1])
  local f = {}
  for i = 1, #kv, 2 do
    local k = kv[i]
    if k ~= 'c' and k ~= 'h' and k ~= 'n' and k ~= 'd' and k ~= 'l' and k ~= 'e' and string.sub(k, 1, 2) ~= 'a:' then
      error('spendguard: not a budget: ' .. KEYS[1] .. ' has a field ' .. k)
    end
    f[k] = kv[i + 1]
  end
  if #kv > 0 and not (f['c'] or f['h']) then
    error('spendguard: not a budget: ' .. KEYS[1] .. ' has no counters')
  end
  count(f['c'], 'consumed')
  count(f['h'], 'held')
  count(f['n'], 'lease end')
  count(f['d'], 'default capacity')
  count(f['l'], 'lease')
  count(f['e'], 'window end')
  return f
end
