--[[
  Guardrail: the lease holder parks a run's derived deletions (nothing marked, nothing sent) until an
  operator releases them. The run stays in progress, its bitmap kept for the later derivation.

  Input:
    KEYS[1] run:R hash (R = run id)
    KEYS[2] lease:R
    KEYS[3] cand:R set (candidate stash: the derivation after a release counts again)
    ARGV[1] caller's lease token
    ARGV[2] number of deletions held

  Output:
    1 held; -1 the caller does not hold the lease; -2 the run is not being derived
]]
local rcall = redis.call
if rcall('GET', KEYS[2]) ~= ARGV[1] then return -1 end
if rcall('HGET', KEYS[1], 'state') ~= 'deriving' then return -2 end
local t = rcall('TIME')
rcall('HSET', KEYS[1], 'state', 'held', 'held', ARGV[2], 'heldAt', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
rcall('HDEL', KEYS[1], 'owner', 'stash', 'stashIdx')
rcall('DEL', KEYS[2], KEYS[3])
return 1
