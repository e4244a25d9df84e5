-- status: what snapshot reports, for Family's reads (Status, List), without writing
-- anything: holds whose lease has ended count as reclaimed, and stay where they are.
-- ARGV[3] default capacity, ARGV[4] '1' to report the live holds.
-- Returns {consumed, held, capacity in force, 1 if that capacity is the override in
-- KEYS[4] else 0, then with ARGV[4] size and lease end (ms) of each live hold}. A hash
-- with fields no budget writes, or with no counters, is not a budget's: an error
-- "spendguard: not a budget", and nothing is read further.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local f = fields()
local c, h = count(f['c'], 'consumed'), count(f['h'], 'held')
local cap, src = limit(tonumber(ARGV[3]))
local out = {c, h, cap, src}
local z
if ARGV[4] == '1' then
  z = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
else -- only the holds whose lease has ended
  z = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES')
end
for i = 1, #z, 2 do
  local size = count(string.match(z[i], ':(%d+)$') or 'bad hold ' .. z[i], 'hold')
  local s = tonumber(z[i + 1])
  if s <= now then
    h = h - size -- reclaimed by the next reserve or snapshot
  elseif ARGV[4] == '1' then
    out[#out + 1], out[#out + 2] = size, s
  end
end
if h < 0 then h = 0 end
out[2] = h
return out
