--[[
  Decides, for each removal of a run, whether it must be sent, and flags the sent ones `r` (removal
  pending) so that no later upsert of the item overtakes it: such an upsert answers `wait` until the
  removal settles. The entry (membership) stays until the removal is accepted.
  An item already flagged is sent again: the flag may be this very removal's, left by a crash between
  prepare and send (waiting on it would wait forever), and removing twice is harmless.

  Input:
    KEYS[1] items hash (value idx|seq|flags|fp, see statePrepareUpserts-3.lua)
    KEYS[2] meta hash (floor)
    ARGV[1] run seq (decimal)
    ARGV[2] mode: 'members-only' (mirror deletions) or 'always' (Delete Only: ids we never saw may
            still be in the destination)
    ARGV[3] state epoch the caller validated ('' = unguarded), see state-guard.ts
    ARGV[4] lowest meta lsn the caller accepts (its highest seen)
    ARGV[5...] item ids

  Output:
    array, per item: 1 send, 2 not_member (nothing to remove, settle as skipped), 4 stale (a newer run
    upserted it, or the row is older than a mirror derivation: settle as skipped). 3 (wait) is not
    answered. Then the new meta lsn.
    -9: the state is not the one the caller validated (see statePrepareUpserts-3.lua); nothing changed.
]]
local rcall = redis.call
local items = KEYS[1]
local seq = tonumber(ARGV[1])
local always = ARGV[2] == 'always'
if ARGV[3] ~= '' then
  local g = rcall('HMGET', KEYS[2], 'epoch', 'lsn')
  if g[1] ~= ARGV[3] or tonumber(g[2] or '0') < tonumber(ARGV[4]) then return -9 end
end
local lsn = rcall('HINCRBY', KEYS[2], 'lsn', 1)
local floor = tonumber(rcall('HGET', KEYS[2], 'floor') or '0')
local out = {}

for i = 5, #ARGV do
  local id = ARGV[i]
  local v = rcall('HGET', items, id)
  if not v then
    out[#out + 1] = always and 1 or 2
  else
    local idx36, s36, flags, fpf = string.match(v, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
    if tonumber(s36, 36) > seq or seq < floor then
      out[#out + 1] = 4
    else
      if not string.find(flags, 'r', 1, true) then
        rcall('HSET', items, id, idx36 .. '|' .. s36 .. '|' .. flags .. 'r|' .. fpf)
      end
      out[#out + 1] = 1
    end
  end
end
out[#out + 1] = lsn
return out
