--[[
  One step of a mirror derivation at a complete FULL run R: scans part of the items hash and finds the
  deletion candidates = members not seen in R (bit idx of seen:R unset) that no run from R on
  upserted (seq < R's seq). Only the lease holder may call it; each call renews the lease.
  It also raises meta floor to R's seq: from now on rows of runs older than R are stale (R's export
  supersedes them), so a lagging older run cannot bring back an item R's derivation deleted.

  Input:
    KEYS[1] items hash (value idx|seq|flags|fp, see statePrepareUpserts-3.lua)
    KEYS[2] meta hash (floor)
    KEYS[3] run:R hash (R = run id)
    KEYS[4] seen:R bitmap
    KEYS[5] lease:R
    ARGV[1] run seq (decimal)
    ARGV[2] HSCAN cursor ('0' to start)
    ARGV[3] HSCAN COUNT (entries per call; bounds the call's duration)
    ARGV[4] mode: 'count' (count candidates) or 'mark' (flag them r = removal pending, return their ids;
            entries already flagged are returned too: a previous owner may have died mid-way)
    ARGV[5] caller's lease token
    ARGV[6] lease ms

  Output:
    count: { next cursor, number of candidates }; mark: { next cursor, id, id, ... }
    -1 the caller does not hold the lease; -2 the run is not being derived
]]
local rcall = redis.call
local items, meta, run, seen, lease = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local seq = tonumber(ARGV[1])
local mark = ARGV[4] == 'mark'

if rcall('GET', lease) ~= ARGV[5] then return -1 end
if rcall('HGET', run, 'state') ~= 'deriving' then return -2 end
rcall('PEXPIRE', lease, ARGV[6])
if tonumber(rcall('HGET', meta, 'floor') or '0') < seq then rcall('HSET', meta, 'floor', ARGV[1]) end

-- One GET of the bitmap per call: testing bits in Lua is much cheaper than a GETBIT per entry.
local bm = rcall('GET', seen) or ''
local band = bit.band
local scan = rcall('HSCAN', items, ARGV[2], 'COUNT', ARGV[3])
local entries = scan[2]
local out = { scan[1] }
local n = 0

for i = 1, #entries, 2 do
  local v = entries[i + 1]
  local idx36, s36, flags, fpf = string.match(v, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
  if tonumber(s36, 36) < seq then
    local idx = tonumber(idx36, 36)
    local byte = string.byte(bm, math.floor(idx / 8) + 1) or 0
    if band(byte, 2 ^ (7 - idx % 8)) == 0 then
      if mark then
        local id = entries[i]
        if not string.find(flags, 'r', 1, true) then
          rcall('HSET', items, id, idx36 .. '|' .. s36 .. '|' .. flags .. 'r|' .. fpf)
        end
        out[#out + 1] = id
      else
        n = n + 1
      end
    end
  end
end

if not mark then out[2] = n end
return out
