--[[
  Finishes a claimed run: state done, its bitmap, ids set, candidate stash and lease go, it leaves the runs in
  progress, and its hash stays for inspection until the TTL. Idempotent once done.

  Input:
    KEYS[1] run:R hash (R = run id)
    KEYS[2] seen:R bitmap
    KEYS[3] ids:R set
    KEYS[4] lease:R
    KEYS[5] runs zset
    KEYS[6] cand:R set
    ARGV[1] run id
    ARGV[2] caller's lease token
    ARGV[3] TTL of the finished run's hash, seconds

  Output:
    { upserted, removed, rejected, skipped, held }
    -1 another caller holds the lease; -2 the run is not being derived; -3 unknown run
]]
local rcall = redis.call
local run = KEYS[1]
local state = rcall('HGET', run, 'state')
if not state then return -3 end
if state ~= 'done' then
  local holder = rcall('GET', KEYS[4])
  if holder and holder ~= ARGV[2] then return -1 end
  if state ~= 'deriving' then return -2 end
  local t = rcall('TIME')
  rcall('HSET', run, 'state', 'done', 'finishedAt', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  rcall('HDEL', run, 'owner', 'stash', 'stashIdx', 'waitingFor')
  rcall('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[6])
  rcall('ZREM', KEYS[5], ARGV[1])
  rcall('EXPIRE', run, ARGV[3])
end
local c = rcall('HMGET', run, 'upserted', 'removed', 'rejected', 'skipped', 'held')
for i = 1, 5 do c[i] = tonumber(c[i] or '0') end
return c
