--[[
  Extends a run's lease if the caller still holds it (it may have expired and been claimed by another).

  Input:
    KEYS[1] lease:R
    ARGV[1] caller's lease token
    ARGV[2] lease ms

  Output:
    1 renewed, 0 not held by the caller
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
