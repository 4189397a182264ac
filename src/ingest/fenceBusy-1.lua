--[[
  Drops expired entries, then counts the requests still on the wire for the given partitions that
  other owners (another instance, or an earlier assignment of this one) sent.

  Input:
    KEYS[1] in-flight sorted set (see fenceEnter-1.lua)
    ARGV[1] the asking owner, whose own entries do not count
    ARGV[2..] partitions

  Output:
    the number of such entries
]]
local rcall = redis.call
local clock = rcall('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
rcall('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local wanted = {}
for i = 2, #ARGV do
  wanted[ARGV[i]] = true
end
local busy = 0
for _, member in ipairs(rcall('ZRANGE', KEYS[1], 0, -1)) do
  local partition, owner = string.match(member, '^([^|]*)|([^|]*)|')
  if wanted[partition] and owner ~= ARGV[1] then
    busy = busy + 1
  end
end
return busy
