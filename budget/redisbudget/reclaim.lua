-- reclaim, for the scripts whose result depends on what is held (reserve, snapshot).
-- While no lease can have ended (now < n) it does nothing and returns nil. Otherwise
-- it forgets reclaimed holds whose memory ended, moves up to LIMIT holds whose lease
-- ended by now from the live set to the reclaimed one, and returns their total size
-- and the new n; the caller writes both to the hash, which it has already read (so a
-- hash of the wrong type has failed the script before this writes anything).
local function reclaim(now, n)
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
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if #ids > 0 then
    local args, until_ = {}, now + tonumber(ARGV[1])
    for i = 1, #ids do
      args[#args + 1] = until_
      args[#args + 1] = ids[i]
    end
    redis.call('ZADD', KEYS[3], unpack(args))
    -- The set goes when its last member would (even if no later scan prunes it),
    -- which may be later than until_ when another process has a longer lease.
    local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
    redis.call('PEXPIREAT', KEYS[3], last[2])
    redis.call('ZREM', KEYS[2], unpack(ids))
  end
  return freed, nxt
end
