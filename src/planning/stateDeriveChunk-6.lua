--[[
  One step of a mirror derivation at a complete FULL run R. Deletion candidates = members not seen in
  R (bit idx of seen:R unset) that no run from R on upserted (seq < R's seq). Only the lease holder
  may call it; each call renews the lease. A run older than the mirror floor derives nothing: a later
  full run's derivation already superseded it.

  count only counts (the guardrail may hold the deletions, and holding changes nothing else). The
  first mark step raises meta floor to R's seq: from then on rows of runs older than R are stale (R's
  export supersedes them), so a lagging or replayed older row cannot bring back an item R deletes.

  count scans the items hash and stashes the candidates in cand:R (up to a cap, tagged with the
  caller's token) so that mark only re-checks the stash instead of scanning every item again. mark
  without a stash of its own (none, over the cap, or counted by a previous owner) scans, and so does
  a mark after an entry was created since the count began (meta nextIdx moved; the new entry may be
  a candidate the stash lacks).

  Input:
    KEYS[1] items hash (value idx|seq|flags|fp, see statePrepareUpserts-3.lua)
    KEYS[2] meta hash (floor, nextIdx)
    KEYS[3] run:R hash (R = run id); field stash = token of the caller whose complete count filled cand:R,
            stashIdx = meta nextIdx when that count began
    KEYS[4] seen:R bitmap
    KEYS[5] lease:R
    KEYS[6] cand:R set
    ARGV[1] run seq (decimal)
    ARGV[2] cursor ('0' to start; count restarts the stash at '0')
    ARGV[3] entries per call: HSCAN COUNT, or stashed ids popped (bounds the call's duration)
    ARGV[4] mode: 'count' (count candidates) or 'mark' (flag them r = removal pending, return their ids;
            entries already flagged are returned too: a previous owner may have died mid-way)
    ARGV[5] caller's lease token
    ARGV[6] lease ms
    ARGV[7] stash cap (ids)
    ARGV[8] state epoch the caller validated ('' = unguarded), see state-guard.ts
    ARGV[9] lowest meta lsn the caller accepts (its highest seen)

  Output:
    count: { next cursor, number of candidates }; mark: { next cursor, id, id, ... }; cursor '0' = done
    -1 the caller does not hold the lease; -2 the run is not being derived; -9 the state is not the one
    the caller validated (see statePrepareUpserts-3.lua): no deletion is derived from it
]]
local rcall = redis.call
local items, meta, run, seen, lease, cand = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local seq = tonumber(ARGV[1])
local mark, token = ARGV[4] == 'mark', ARGV[5]

if ARGV[8] ~= '' then
  local g = rcall('HMGET', meta, 'epoch', 'lsn')
  if g[1] ~= ARGV[8] or tonumber(g[2] or '0') < tonumber(ARGV[9]) then return -9 end
end
if rcall('GET', lease) ~= token then return -1 end
if rcall('HGET', run, 'state') ~= 'deriving' then return -2 end
rcall('PEXPIRE', lease, ARGV[6])
local floor = tonumber(rcall('HGET', meta, 'floor') or '0')
if seq < floor then
  if mark then return { '0' } end
  return { '0', 0 }
end
if mark then rcall('HINCRBY', meta, 'lsn', 1) end
if mark and ARGV[2] == '0' then
  if floor < seq then rcall('HSET', meta, 'floor', ARGV[1]) end
  if rcall('HGET', run, 'stashIdx') ~= (rcall('HGET', meta, 'nextIdx') or '0') then
    rcall('DEL', cand)
    rcall('HDEL', run, 'stash')
  end
end

-- One GET of the bitmap per call: testing bits in Lua is much cheaper than a GETBIT per entry.
local bm = rcall('GET', seen) or ''
local band, sbyte, sfind, ssub = bit.band, string.byte, string.find, string.sub

-- idx and seq of an entry value, and the end of its flags
local function fields(v)
  local p1 = sfind(v, '|', 1, true)
  local p2 = sfind(v, '|', p1 + 1, true)
  return p1, p2
end

local function candidate(v, p1, p2)
  if tonumber(ssub(v, p1 + 1, p2 - 1), 36) >= seq then return false end
  local idx = tonumber(ssub(v, 1, p1 - 1), 36)
  return band(sbyte(bm, (idx - idx % 8) / 8 + 1) or 0, 128 / 2 ^ (idx % 8)) == 0
end

local function flag(id, v, p2)
  local p3 = sfind(v, '|', p2 + 1, true)
  if not sfind(ssub(v, p2 + 1, p3 - 1), 'r', 1, true) then
    rcall('HSET', items, id, ssub(v, 1, p3 - 1) .. 'r' .. ssub(v, p3))
  end
end

if mark and rcall('HGET', run, 'stash') == token then
  local out = { '1' }
  for _, id in ipairs(rcall('SPOP', cand, ARGV[3])) do
    local v = rcall('HGET', items, id)
    if v then
      local p1, p2 = fields(v)
      if candidate(v, p1, p2) then
        flag(id, v, p2)
        out[#out + 1] = id
      end
    end
  end
  if rcall('SCARD', cand) == 0 then
    out[1] = '0'
    rcall('HDEL', run, 'stash')
  end
  return out
end

-- The stash serves mark only once a count went through the whole hash ('filling:' until then).
local stashing = false
if not mark then
  if ARGV[2] == '0' then
    rcall('DEL', cand)
    rcall('HSET', run, 'stash', 'filling:' .. token, 'stashIdx', rcall('HGET', meta, 'nextIdx') or '0')
  end
  stashing = rcall('HGET', run, 'stash') == 'filling:' .. token
end

local scan = rcall('HSCAN', items, ARGV[2], 'COUNT', ARGV[3])
local entries = scan[2]
local out = { scan[1] }
local n = 0
for i = 2, #entries, 2 do
  local v = entries[i]
  local p1, p2 = fields(v)
  if candidate(v, p1, p2) then
    local id = entries[i - 1]
    if mark then
      flag(id, v, p2)
      out[#out + 1] = id
    else
      n = n + 1
      if stashing then rcall('SADD', cand, id) end
    end
  end
end

if not mark then
  out[2] = n
  if stashing and rcall('SCARD', cand) > tonumber(ARGV[7]) then
    rcall('DEL', cand)
    rcall('HDEL', run, 'stash')
  elseif stashing and scan[1] == '0' then
    rcall('HSET', run, 'stash', token)
  end
end
return out
