--[[
  Operator release of held deletions: the run becomes complete again with `released` set, so the next
  claim derives its deletions with the guardrail bypassed.

  Input:
    KEYS[1] run:R hash (R = run id)

  Output:
    1 released; 0 the run is not held (unknown, already released, or never held)
]]
local rcall = redis.call
if rcall('HGET', KEYS[1], 'state') ~= 'held' then return 0 end
local t = rcall('TIME')
rcall('HSET', KEYS[1], 'state', 'complete', 'released', 1, 'releasedAt', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
return 1
