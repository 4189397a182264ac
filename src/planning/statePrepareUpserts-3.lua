--[[
  Decides, for each upsert of a run, whether it must be sent, before anything is sent. A new id joins
  the membership here, before its create goes out, so membership errs towards a superset.

  Item value (items hash): idx|seq|flags|fp, idx and seq in base 36; flags: r = removal pending,
  x = an upsert landed while a removal was pending (destination state unknown); fp = fpEpoch.'.'.fingerprint
  of the last accepted attributes, or empty. Every entry is a member.

  Input:
    KEYS[1] items hash
    KEYS[2] meta hash (nextIdx, fpEpoch, floor)
    KEYS[3] runs zset: runs in progress, scored by seq
    ARGV[1] run seq (decimal)
    ARGV[2] key base of the sync; a run's keys are base..('seen:' | 'ids:')..runId, same hash tag
    ARGV[3] state epoch the caller validated ('' = unguarded), see state-guard.ts
    ARGV[4] lowest meta lsn the caller accepts (its highest seen)
    ARGV[5...] pairs: item id, fingerprint

  Output:
    flat array, per item: decision (1 send, 2 unchanged, 3 wait, 4 stale), stored fingerprint of the
    current epoch or ''; then the new meta lsn, then the ids that joined the membership.
    -9: the state is not the one the caller validated (epoch missing or other, lsn went back: Redis
    restarted empty, was flushed or rolled back); nothing changed.
    stale: a newer run already upserted the item, or the row is older than a mirror derivation (meta
    floor): settle it as skipped and send nothing. wait: its removal is pending; retry once it settled.
    unchanged also records the run as the item's latest upserter, so an older run's mirror derivation
    cannot delete an item a later run contains.

  Cost: the entries are read with one HMGET and written with one HSET per call, nextIdx once; an id
  that comes twice in one call sees its first occurrence's write (read through `cur`).
]]
local rcall = redis.call
local items, meta, runs = KEYS[1], KEYS[2], KEYS[3]
local seq = tonumber(ARGV[1])
local base = ARGV[2]

if ARGV[3] ~= '' then
  local g = rcall('HMGET', meta, 'epoch', 'lsn')
  if g[1] ~= ARGV[3] or tonumber(g[2] or '0') < tonumber(ARGV[4]) then return -9 end
end
local lsn = rcall('HINCRBY', meta, 'lsn', 1)

local function b36(n)
  if n == 0 then return '0' end
  local digits, s = '0123456789abcdefghijklmnopqrstuvwxyz', ''
  while n > 0 do
    local d = n % 36
    s = string.sub(digits, d + 1, d + 1) .. s
    n = (n - d) / 36
  end
  return s
end

-- HMGET / HSET in slices: unpack has a bound on its arguments.
local SLICE = 1000
local function hmget(key, list)
  local res = {}
  for i = 1, #list, SLICE do
    local part = rcall('HMGET', key, unpack(list, i, math.min(i + SLICE - 1, #list)))
    for j = 1, #part do res[#res + 1] = part[j] end
  end
  return res
end
local function hset(key, flat)
  for i = 1, #flat, SLICE do
    rcall('HSET', key, unpack(flat, i, math.min(i + SLICE - 1, #flat)))
  end
end

local m = rcall('HMGET', meta, 'floor', 'fpEpoch', 'nextIdx')
local floor = tonumber(m[1] or '0')
local prefix = (m[2] or '0') .. '.'
local nextIdx = tonumber(m[3] or '0')
local firstIdx = nextIdx
local seq36 = b36(seq)
local open
local out = {}
local joined = {}

local ids = {}
for i = 5, #ARGV, 2 do ids[#ids + 1] = ARGV[i] end
local stored0 = hmget(items, ids)
-- Entries written by this call, by id (read before the stored value), and the HSET arguments.
local cur, writes = {}, {}
local function put(id, v)
  cur[id] = v
  writes[#writes + 1] = id
  writes[#writes + 1] = v
end

for n, id in ipairs(ids) do
  local fp = ARGV[4 + 2 * n]
  local v = cur[id]
  if v == nil then v = stored0[n] end
  if not v then
    if seq < floor then
      out[#out + 1] = 4
    else
      local idx = nextIdx
      nextIdx = nextIdx + 1
      -- Runs that settled this id while it had no entry keep its identity in their :ids set; carry it
      -- to the new bit so a replay counts nothing twice (mirror of stateSettle-7.lua). An empty set
      -- (the usual case) is asked once per call, not once per id.
      if not open then
        open = {}
        for _, rid in ipairs(rcall('ZRANGE', runs, 0, -1)) do
          if rcall('SCARD', base .. 'ids:' .. rid) > 0 then open[#open + 1] = rid end
        end
      end
      for _, rid in ipairs(open) do
        if rcall('SISMEMBER', base .. 'ids:' .. rid, id) == 1 then
          rcall('SETBIT', base .. 'seen:' .. rid, idx, 1)
        end
      end
      put(id, b36(idx) .. '|' .. seq36 .. '||')
      joined[#joined + 1] = id
      out[#out + 1] = 1
    end
    out[#out + 1] = ''
  else
    local idx36, s36, flags, fpf = string.match(v, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
    local s = tonumber(s36, 36)
    if s > seq or seq < floor then
      out[#out + 1] = 4
      out[#out + 1] = ''
    elseif string.find(flags, 'r', 1, true) then
      out[#out + 1] = 3
      out[#out + 1] = ''
    else
      local stored = ''
      if string.sub(fpf, 1, #prefix) == prefix then stored = string.sub(fpf, #prefix + 1) end
      if s < seq then put(id, idx36 .. '|' .. seq36 .. '|' .. flags .. '|' .. fpf) end
      if stored ~= '' and stored == fp then out[#out + 1] = 2 else out[#out + 1] = 1 end
      out[#out + 1] = stored
    end
  end
end
if #writes > 0 then hset(items, writes) end
if nextIdx ~= firstIdx then rcall('HSET', meta, 'nextIdx', nextIdx) end
out[#out + 1] = lsn
for _, id in ipairs(joined) do out[#out + 1] = id end
return out
