-- Shared prelude of every spendguard script. It is concatenated in front of each
-- script's own body, so a script is one self-contained EVAL.
--
-- KEYS[1]  the window's hash: field c = consumed, h = held, and one field per live
--          hold (its reservation id) whose value is the hold's size.
-- KEYS[2]  the window's sorted set of leases: member = reservation id, score = the
--          Redis TIME (ms) at which the hold expires.
--
-- Lua numbers are doubles: every count is kept ≤ 2^53 (the largest capacity the Go
-- side accepts), where doubles are exact, and written back as integer strings with
-- no sign, so that a zero never becomes "-0".
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

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- expired reads (and does not yet remove) up to RECLAIM_LIMIT holds whose lease ended
-- at or before now, leaving out except. It returns their ids and their total size.
local function expired(now, except)
  local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, RECLAIM_LIMIT)
  if #ids == 0 then return ids, 0 end
  if except then
    for i = #ids, 1, -1 do
      if ids[i] == except then table.remove(ids, i) end
    end
    if #ids == 0 then return ids, 0 end
  end
  local sizes = redis.call('HMGET', KEYS[1], unpack(ids))
  local freed = 0
  for i = 1, #ids do freed = freed + count(sizes[i], 'hold') end
  return ids, freed
end

-- reclaim removes the holds expired returned; the caller writes the new held count.
local function reclaim(ids)
  if #ids == 0 then return end
  redis.call('HDEL', KEYS[1], unpack(ids))
  redis.call('ZREM', KEYS[2], unpack(ids))
end

local function touch(ttl)
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[1], ttl)
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
end
