--[[
  Takes 1 request and n items from an account's two token buckets in one step, or takes nothing.
  Each bucket refills continuously at its rate up to its capacity; a missing hash is two full buckets.
  A live pause key (set after a 429) blocks every take until it expires.

  Input:
    KEYS[1] bucket hash: r = request tokens, i = item tokens, t = last refill (microseconds, Redis TIME;
            in the future while a drain after a 429 holds the buckets empty)
    KEYS[2] pause key: its PTTL is the shared pause still to run
    ARGV[1] request rate, tokens per second (> 0)
    ARGV[2] request capacity
    ARGV[3] item rate, tokens per second; 0 turns the item bucket off
    ARGV[4] item capacity
    ARGV[5] items to take (n >= 0); n above the capacity waits for a full bucket and leaves it in debt

  Output:
    0 when taken; otherwise how many ms to wait before trying again (nothing taken): the longest of
    the remaining pause and the two buckets' deficits.
]]
local rcall = redis.call

local paused = rcall('PTTL', KEYS[2])
if paused > 0 then
  return paused
end

local reqRate, reqCap = tonumber(ARGV[1]), tonumber(ARGV[2])
local itemRate, itemCap = tonumber(ARGV[3]), tonumber(ARGV[4])
local n = tonumber(ARGV[5])

local clock = rcall('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

local state = rcall('HMGET', KEYS[1], 'r', 'i', 't')
local r, i, t = tonumber(state[1]), tonumber(state[2]), tonumber(state[3])
if not (r and i and t) then
  r, i, t = reqCap, itemCap, now
end

local elapsed = math.max(0, now - t) / 1000000
r = math.min(reqCap, r + elapsed * reqRate)
if itemRate > 0 then
  i = math.min(itemCap, i + elapsed * itemRate)
end

local wait = 0
if r < 1 then
  wait = (1 - r) / reqRate
end
if itemRate > 0 then
  local need = math.min(n, itemCap)
  if i < need then
    wait = math.max(wait, (need - i) / itemRate)
  end
end
if wait > 0 then
  return math.max(1, math.ceil(wait * 1000))
end

r = r - 1
if itemRate > 0 then
  i = i - n
end
rcall('HSET', KEYS[1], 'r', r, 'i', i, 't', math.max(t, now))

-- Expire once both buckets would be full again: a missing key reads as full, so nothing changes.
local refill = (reqCap - r) / reqRate
if itemRate > 0 then
  refill = math.max(refill, (itemCap - i) / itemRate)
end
rcall('PEXPIRE', KEYS[1], math.ceil(refill * 1000 + math.max(0, t - now) / 1000) + 1000)
return 0
