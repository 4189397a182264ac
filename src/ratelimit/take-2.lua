--[[
  Takes 1 request and n items from an account's two token buckets in one step, or takes nothing.
  Each bucket refills continuously at its rate up to its capacity; a missing hash is two full buckets.
  A live pause key (set after a 429) blocks every take until it expires.

  Takers of a busy account wait; the bucket remembers it, so that a part-full request can tell whether
  spending a request on it now would take the budget from a fuller one (class s), and a request that
  must not wait behind other catalogs' backlog can have the next request for itself (class p).

  Input:
    KEYS[1] bucket hash: r = request tokens, i = item tokens, t = last refill (microseconds, Redis TIME;
            in the future while a drain after a 429 holds the buckets empty); d = when the last taker
            told to wait comes back (microseconds); po, pe, pn = holder, expiry (microseconds) and items of a reservation
    KEYS[2] pause key: its PTTL is the shared pause still to run
    ARGV[1] request rate, tokens per second (> 0)
    ARGV[2] request capacity
    ARGV[3] item rate, tokens per second; 0 turns the item bucket off
    ARGV[4] item capacity
    ARGV[5] items to take (n >= 0); n above the capacity waits for a full bucket and leaves it in debt
    ARGV[6] class, optional (default n):
            n  take now, or answer the wait and record it as demand
            s  spare: a check that takes nothing; 0 when the tokens are there and no taker was told to
               wait within the slack, so nobody else wants them
            p  priority: as n, but a taker that must wait reserves the next request (1 request and its
               n items) unless another holder's reservation is live; the others take only what is left
               beyond it. Taking clears the taker's own reservation
    ARGV[7] taker id (class p: the reservation's holder)
    ARGV[8] slack, ms (default 100): how long past its answered wait a demand or a reservation holds,
            so that a holder that died frees the next request within its wait plus the slack

  Output:
    0 when taken (class s: when it would be taken and is spare); otherwise how many ms to wait before
    trying again (nothing taken): the longest of the remaining pause and the two buckets' deficits
    (class s: also until the demand lapses).
]]
local rcall = redis.call

local paused = rcall('PTTL', KEYS[2])
if paused > 0 then
  return paused
end

local reqRate, reqCap = tonumber(ARGV[1]), tonumber(ARGV[2])
local itemRate, itemCap = tonumber(ARGV[3]), tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local class = ARGV[6] or 'n'
local who = ARGV[7] or ''
local slack = tonumber(ARGV[8] or '100') * 1000

local clock = rcall('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

local state = rcall('HMGET', KEYS[1], 'r', 'i', 't', 'd', 'po', 'pe', 'pn')
local r, i, t = tonumber(state[1]), tonumber(state[2]), tonumber(state[3])
if not (r and i and t) then
  r, i, t = reqCap, itemCap, now
end
local demand = tonumber(state[4] or '0')
local holder, expires, held = state[5], tonumber(state[6] or '0'), tonumber(state[7] or '0')
local reserved = holder and expires > now
local mine = reserved and class == 'p' and holder == who

local elapsed = math.max(0, now - t) / 1000000
r = math.min(reqCap, r + elapsed * reqRate)
if itemRate > 0 then
  i = math.min(itemCap, i + elapsed * itemRate)
end

-- What this taker may use: another holder's reservation comes first.
local freeR, freeI = r, i
if reserved and not mine then
  freeR, freeI = r - 1, i - held
end

local wait = 0
if freeR < 1 then
  wait = (1 - freeR) / reqRate
end
if itemRate > 0 then
  local need = math.min(n, itemCap)
  if freeI < need then
    wait = math.max(wait, (need - freeI) / itemRate)
  end
end

if class == 's' then
  local later = math.max(wait * 1000000, demand + slack - now)
  if later <= 0 then
    return 0
  end
  return math.max(1, math.ceil(later / 1000))
end

if wait > 0 then
  local back = now + wait * 1000000
  if back > demand then
    rcall('HSET', KEYS[1], 'd', back)
  end
  if class == 'p' and (mine or not reserved) then
    rcall('HSET', KEYS[1], 'po', who, 'pe', back + slack, 'pn', n)
  end
  return math.max(1, math.ceil(wait * 1000))
end

r = r - 1
if itemRate > 0 then
  i = i - n
end
rcall('HSET', KEYS[1], 'r', r, 'i', i, 't', math.max(t, now))
if mine then
  rcall('HDEL', KEYS[1], 'po', 'pe', 'pn')
end

-- Expire once both buckets would be full again: a missing key reads as full, so nothing changes.
local refill = (reqCap - r) / reqRate
if itemRate > 0 then
  refill = math.max(refill, (itemCap - i) / itemRate)
end
rcall('PEXPIRE', KEYS[1], math.ceil(refill * 1000 + math.max(0, t - now) / 1000) + 1000)
return 0
