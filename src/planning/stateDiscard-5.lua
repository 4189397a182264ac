--[[
  Operator discard of held deletions: the run finishes as it is, removing nothing (the export was
  wrong). Like stateFinish-6.lua, its bitmap, ids set and stash go, it leaves the runs in progress, and
  its hash stays for inspection until the TTL.

  Input:
    KEYS[1] run:R hash (R = run id)
    KEYS[2] seen:R bitmap
    KEYS[3] ids:R set
    KEYS[4] runs zset
    KEYS[5] cand:R set
    ARGV[1] run id
    ARGV[2] TTL of the finished run's hash, seconds

  Output:
    { upserted, removed, rejected, skipped, held }; 0 the run is not held (unknown, released, done)
]]
local rcall = redis.call
local run = KEYS[1]
if rcall('HGET', run, 'state') ~= 'held' then return 0 end
local t = rcall('TIME')
rcall('HSET', run, 'state', 'done', 'discarded', 1, 'finishedAt', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
rcall('DEL', KEYS[2], KEYS[3], KEYS[5])
rcall('ZREM', KEYS[4], ARGV[1])
rcall('EXPIRE', run, ARGV[2])
local c = rcall('HMGET', run, 'upserted', 'removed', 'rejected', 'skipped', 'held')
for i = 1, 5 do c[i] = tonumber(c[i] or '0') end
return c
