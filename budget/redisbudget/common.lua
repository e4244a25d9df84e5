-- Shared prelude of every spendguard script, concatenated in front of each script's
-- own body so that a script is one self-contained EVAL.
--
-- KEYS[1]  the window's hash: c = consumed, h = held (the sum of live holds), and
--          n = a lower bound of the earliest lease end (absent: unknown).
-- KEYS[2]  the window's live holds, a sorted set: member = "<reservation id>:<size>",
--          score = the Redis TIME (ms) at which its lease ends.
-- KEYS[3]  the window's reclaimed holds, a sorted set: the same members, scored with
--          the TIME until which a late settle of theirs is still charged.
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

local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- scan returns nil while no lease can have ended (now < n); otherwise up to LIMIT
-- holds whose lease ended by now, their total size, and the new n.
local function scan(now, n)
  if n and now < n then return nil end
  local z = redis.call('ZRANGE', KEYS[2], 0, LIMIT, 'WITHSCORES')
  local ids, freed, nxt = {}, 0, MAXC
  for i = 1, #z, 2 do
    local s = tonumber(z[i + 1])
    if s <= now and #ids < LIMIT then
      ids[#ids + 1] = z[i]
      freed = freed + count(string.match(z[i], ':(%d+)$') or 'bad hold ' .. z[i], 'hold')
    elseif s < nxt then
      nxt = s
    end
  end
  return ids, freed, nxt
end

-- reclaim forgets reclaimed holds whose memory ended, then moves the holds scan
-- returned from the live set to the reclaimed one.
local function reclaim(now, ids)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if #ids == 0 then return end
  local args, until_ = {}, now + tonumber(ARGV[1])
  for i = 1, #ids do
    args[#args + 1] = until_
    args[#args + 1] = ids[i]
  end
  redis.call('ZADD', KEYS[3], unpack(args))
  -- The set goes when its last member would (even if no later scan prunes it), which
  -- may be later than until_ when another process has a longer lease.
  local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[3], last[2])
  redis.call('ZREM', KEYS[2], unpack(ids))
end

-- expire gives a window's key its TTL (a key that existed keeps the one it has).
local function expire(key)
  if ARGV[2] ~= '0' then redis.call('PEXPIRE', key, ARGV[2]) end
end
