--[[
  Releases a lock only if this holder still owns it (it may have expired and been taken by another).

  Input:
    KEYS[1] lock key
    ARGV[1] the holder's token

  Output:
    1 released, 0 not ours (expired or taken by another holder)
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
