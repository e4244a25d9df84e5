-- Shared prelude of every spendguard script, concatenated in front of each script's
-- own body so that a script is one self-contained EVAL.
--
-- KEYS[1]  the window's hash: c = consumed, h = held, n = a lower bound of the
--          earliest lease end (absent: unknown), and one field per live hold (its
--          reservation id) whose value is the hold's size.
-- KEYS[2]  the window's sorted set of leases: member = reservation id, score = the
--          Redis TIME (ms) at which the hold expires.
-- KEYS[3]  the window's sorted set of reclaimed holds: member = reservation id,
--          score = the Redis TIME (ms) until which its late settle is still charged.
-- ARGV[1]  how long (ms) a reclaimed hold is remembered: twice the lease.
-- ARGV[2]  the TTL (ms) of the window's keys, 0 for none.
--
-- A settle needs no marker of its own: a live hold is the proof that it has not been
-- settled, and settling deletes it, so a second settle finds nothing to do. Only a
-- hold that its lease reclaimed is remembered (KEYS[3]), so that its late settle is
-- charged, once.
--
-- n spares the common call the scan of the lease set: while TIME < n no lease can
-- have ended. ZADD lowers it, a scan sets it to the earliest remaining lease, and a
-- settle leaves it (a stale, lower n only costs one scan).
--
-- Lua numbers are doubles: every count stays ≤ 2^53 (the largest capacity the Go
-- side accepts), where doubles are exact, and is written back as an integer string
-- with no sign, so that a zero never becomes "-0".
--
-- Reads come before writes: a key of the wrong type fails the script before it has
-- changed anything.
if redis.replicate_commands then pcall(redis.replicate_commands) end

local MAXC = 9007199254740992 -- 2^53
local RECLAIM_LIMIT = 100     -- bounds the work of one call; the rest waits for the next

local function str(v)
  if v <= 0 then return '0' end
  if v >= MAXC then return '9007199254740992' end
  return string.format('%.0f', v)
end

local function count(v, what)
  if not v then return 0 end
  local n = tonumber(v)
  if not n or n < 0 or n > MAXC or n ~= math.floor(n) then
    error('spendguard: corrupt ' .. what .. ' in ' .. KEYS[1] .. ': ' .. tostring(v))
  end
  return n
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- scan returns, when a lease may have ended (n unknown or ≤ now), up to
-- RECLAIM_LIMIT holds whose lease ended at or before now, leaving out except, with
-- their total size and the new n; otherwise an empty list, 0 and nil.
local function scan(n, except)
  if n and now < n then return {}, 0, nil end
  local z = redis.call('ZRANGE', KEYS[2], 0, RECLAIM_LIMIT, 'WITHSCORES')
  local ids, nxt = {}, MAXC
  for i = 1, #z, 2 do
    local s = tonumber(z[i + 1])
    if s <= now and #ids < RECLAIM_LIMIT and z[i] ~= except then
      ids[#ids + 1] = z[i]
    elseif s < nxt then
      nxt = s
    end
  end
  local freed = 0
  if #ids > 0 then
    local sizes = redis.call('HMGET', KEYS[1], unpack(ids))
    for i = 1, #ids do freed = freed + count(sizes[i], 'hold') end
  end
  return ids, freed, nxt
end

-- reclaim forgets reclaimed holds past their memory, then removes the holds scan
-- returned and remembers them. It runs only when scan did.
local function reclaim(ids)
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if #ids == 0 then return end
  local until_ = now + tonumber(ARGV[1])
  local zargs = {}
  for i = 1, #ids do
    zargs[#zargs + 1] = until_
    zargs[#zargs + 1] = ids[i]
  end
  redis.call('ZADD', KEYS[3], unpack(zargs))
  -- Nothing in it outlives this: the set goes even if no later scan prunes it.
  redis.call('PEXPIRE', KEYS[3], ARGV[1])
  redis.call('HDEL', KEYS[1], unpack(ids))
  redis.call('ZREM', KEYS[2], unpack(ids))
end

-- hset writes the fields of w (name → string), if any.
local function hset(w)
  local args = {}
  for k, v in pairs(w) do
    args[#args + 1] = k
    args[#args + 1] = v
  end
  if #args > 0 then redis.call('HSET', KEYS[1], unpack(args)) end
end

local function touch()
  local ttl = tonumber(ARGV[2])
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('PEXPIRE', KEYS[2], ttl)
    redis.call('PEXPIRE', KEYS[3], ttl)
  end
end
