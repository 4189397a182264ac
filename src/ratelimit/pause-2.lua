--[[
  Starts an account's shared pause after a 429 and drains both of its buckets, so every instance backs
  off and, when the pause ends, refills from empty instead of bursting again. Never shortens a longer
  pause already running.

  Input:
    KEYS[1] bucket hash (see take-2.lua)
    KEYS[2] pause key
    ARGV[1] pause, ms (> 0)
    ARGV[2] bucket TTL, ms: the pause plus the time both buckets take to refill from empty

  Output:
    the pause now in force, ms
]]
local rcall = redis.call
local ms = tonumber(ARGV[1])

local current = rcall('PTTL', KEYS[2])
if current >= ms then
  return current
end

rcall('SET', KEYS[2], '1', 'PX', ms)
local clock = rcall('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
rcall('HSET', KEYS[1], 'r', 0, 'i', 0, 't', now + ms * 1000)
rcall('PEXPIRE', KEYS[1], ARGV[2])
return ms
