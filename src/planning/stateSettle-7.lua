--[[
  Records what happened to items of a run and answers whether the run is complete and who does its
  post-run work. Also registers a run (rows may arrive before RUN_STARTED, which travels on another
  partition), stores the end marker's count, and claims a complete run.

  A run counts DISTINCT ids: an id with an entry is bit idx of seen:R; an id without one (removed,
  or never a member) is a member of ids:R. When an entry is deleted its identity moves from the bit
  to the :ids set of every run in progress, and a new entry takes it back (statePrepareUpserts-3.lua),
  so a replay of any settle never counts twice.

  Input:
    KEYS[1] items hash (value idx|seq|flags|fp, see statePrepareUpserts-3.lua)
    KEYS[2] meta hash (nextIdx, fpEpoch)
    KEYS[3] runs zset: runs in progress by seq
    KEYS[4] run:R hash (R = run id)
    KEYS[5] seen:R bitmap
    KEYS[6] ids:R set
    KEYS[7] lease:R
    ARGV[1] run id
    ARGV[2] run seq (decimal)
    ARGV[3] run kind (FULL | DELTA)
    ARGV[4] op: start | settle | derived | repair | end | claim
            settle: the triples are rows of the run; derived: deletions derived at its completion (ids
            not in the run: no bitmap, removed counts only what leaves the membership); repair: removals
            sent again because an older upsert may have landed after them (no run: KEYS[4..7] unused;
            the third member of each triple is the seq of the removal repeated)
    ARGV[5] end: the run's distinct id count (row_count); else ''
    ARGV[6] lease ms
    ARGV[7] caller's lease token
    ARGV[8] key base of the sync; other runs' keys are base..('seen:' | 'ids:' | 'run:')..runId
    ARGV[9] ms after which an earlier run that settles nothing more no longer holds later runs back
    ARGV[10] state epoch the caller validated ('' = unguarded), see state-guard.ts
    ARGV[11] lowest meta lsn the caller accepts (its highest seen)
    ARGV[12...] triples: item id, outcome (upserted | removed | rejected | skipped), fingerprint or ''

  A run unknown here whose seq is at most meta restoredRun was in progress when the state was lost
  and restored from the changelog (state-guard.ts): its distinct ids can no longer be counted, so it
  is recorded done (abandoned) at once; its rows still apply, its deletions come with the next full run.

  Output:
    { newly settled ids (derived: newly counted), completion, new meta lsn, n, id, seq, ..., change... }
    -9: the state is not the one the caller validated (see statePrepareUpserts-3.lua); nothing changed.
    completion: 0 none, 1 claimed (the caller must do the post-run work, then finish the run),
    2 busy (another caller holds the lease: treat the event as not settled yet and retry),
    3 done (the run already finished), 4 waiting (complete, but an earlier run that has its end
    marker is not finished: runs take effect in order, so retry later). start, derived and repair
    answer 0.
    n: the number of values in the (id, seq) pairs that follow; after them, membership changes as
    pairs (id, '+' joined | '-' left), for the changelog.
    The (id, seq) pairs must be removed again: an upsert of theirs that a removal of run seq
    superseded settled while, or after, that removal was on the wire, so the destination may hold
    it. The entry stays a member (without fingerprint) until the repair is accepted; settle it with
    op repair: it then leaves unless a run from seq on upserted it since. Nothing is flagged, so a
    repair lost in a crash leaves a member too many, never an upsert waiting for ever.

  Runs take effect in order: a run is claimed only once every earlier run that received its end
  marker is done or held. Markers of a sync share one partition, so when a run's end marker is read,
  every earlier run's marker has been read too; an earlier run without one never ended (its producer
  died) and is not waited for, nor is one that settled nothing for ARGV[9] ms (a row of it was
  dead-lettered, or its count is wrong: it can never complete). The guardrail then judges a full run
  against the membership every earlier run left.

  Cost: the entries of the triples are read with one HMGET and written (HSET / HDEL) once per call,
  after the loop; an id that comes twice in one call sees its first occurrence's write (`cur`).
]]
local rcall = redis.call
local items, meta, runs, run, seen, ids, lease = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local runId, seq, kind, op = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local base, stallMs = ARGV[8], tonumber(ARGV[9])
if ARGV[10] ~= '' then
  local g = rcall('HMGET', meta, 'epoch', 'lsn')
  if g[1] ~= ARGV[10] or tonumber(g[2] or '0') < tonumber(ARGV[11]) then return -9 end
end
local lsn = rcall('HINCRBY', meta, 'lsn', 1)
local changes = {}
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

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

-- Entries of the triples: read in one HMGET; this call's writes are kept in cur (false = deleted) and
-- reach the items hash after the loop.
local SLICE = 1000
local tids = {}
for i = 12, #ARGV, 3 do tids[#tids + 1] = ARGV[i] end
local stored0 = {}
for i = 1, #tids, SLICE do
  local part = rcall('HMGET', items, unpack(tids, i, math.min(i + SLICE - 1, #tids)))
  for j = 1, #part do stored0[#stored0 + 1] = part[j] end
end
local cur, touched = {}, {}
local function put(id, v)
  if cur[id] == nil then touched[#touched + 1] = id end
  cur[id] = v
end
local function flush()
  local sets, dels = {}, {}
  for _, id in ipairs(touched) do
    local v = cur[id]
    if v then
      sets[#sets + 1] = id
      sets[#sets + 1] = v
    else
      dels[#dels + 1] = id
    end
  end
  for i = 1, #sets, SLICE do rcall('HSET', items, unpack(sets, i, math.min(i + SLICE - 1, #sets))) end
  for i = 1, #dels, SLICE do rcall('HDEL', items, unpack(dels, i, math.min(i + SLICE - 1, #dels))) end
end

local repair = op == 'repair'
local state = 'done'
if not repair then
  state = rcall('HGET', run, 'state')
  if not state and seq <= tonumber(rcall('HGET', meta, 'restoredRun') or '-1') then
    rcall('HSET', run, 'kind', kind, 'seq', ARGV[2], 'state', 'done', 'abandoned', 1, 'settled', 0,
      'createdAt', now, 'finishedAt', now)
    rcall('EXPIRE', run, 604800)
    state = 'done'
  elseif not state then
    rcall('HSET', run, 'kind', kind, 'seq', ARGV[2], 'state', 'open', 'settled', 0, 'createdAt', now)
    rcall('ZADD', runs, seq, runId)
    state = 'open'
  end
end
local done = state == 'done'
if not done then
  if op == 'end' then rcall('HSET', run, 'expected', ARGV[5], 'endedAt', now) end
  if op == 'start' then rcall('HSET', run, 'startedAt', now) end
end

local open
local function runsOpen()
  open = open or rcall('ZRANGE', runs, 0, -1)
  return open
end

local function drop(id, idx)
  for _, rid in ipairs(runsOpen()) do
    if rcall('GETBIT', base .. 'seen:' .. rid, idx) == 1 then
      rcall('SADD', base .. 'ids:' .. rid, id)
    end
  end
  put(id, false)
  changes[#changes + 1] = id
  changes[#changes + 1] = '-'
end

-- Kept in step with the new-id branch of statePrepareUpserts-3.lua.
local function create(id)
  local idx = rcall('HINCRBY', meta, 'nextIdx', 1) - 1
  for _, rid in ipairs(runsOpen()) do
    if rcall('SISMEMBER', base .. 'ids:' .. rid, id) == 1 then
      rcall('SETBIT', base .. 'seen:' .. rid, idx, 1)
    end
  end
  put(id, b36(idx) .. '|' .. b36(seq) .. '||')
  changes[#changes + 1] = id
  changes[#changes + 1] = '+'
end

local floor
local function floorSeq()
  floor = floor or tonumber(rcall('HGET', meta, 'floor') or '0')
  return floor
end

-- The first earlier run that has its end marker and is neither done nor held.
local function blocker()
  for _, rid in ipairs(rcall('ZRANGEBYSCORE', runs, '-inf', '(' .. ARGV[2])) do
    local h = base .. 'run:' .. rid
    local st = rcall('HGET', h, 'state')
    if st and st ~= 'held' and st ~= 'done' and rcall('HEXISTS', h, 'expected') == 1 then
      local a = rcall('HMGET', h, 'lastAt', 'endedAt')
      if now - math.max(tonumber(a[1] or '0'), tonumber(a[2] or '0')) < stallMs then return rid end
    end
  end
  return nil
end

local derived = op == 'derived'
local counting = op == 'settle' and not done
local prefix
local newly = 0
local again = {}
local counts = { upserted = 0, removed = 0, rejected = 0, skipped = 0 }

for n, id in ipairs(tids) do
  local i = 9 + 3 * n
  local outcome, fp = ARGV[i + 1], ARGV[i + 2]
  local v = cur[id]
  if v == nil then v = stored0[n] end
  if v == false then v = nil end
  local idx36, s36, flags, fpf, idx, s
  if v then
    idx36, s36, flags, fpf = string.match(v, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
    idx, s = tonumber(idx36, 36), tonumber(s36, 36)
  end
  local fresh = false
  if counting then
    if v then
      fresh = rcall('SETBIT', seen, idx, 1) == 0
    else
      fresh = rcall('SADD', ids, id) == 1
    end
  end
  local pending = v and string.find(flags, 'r', 1, true)

  if outcome == 'upserted' then
    if not v then
      -- Its entry went while the upsert was in flight (an older run's row raced a mirror deletion):
      -- the destination may hold it, so it is a member again, without fingerprint. A row older than
      -- the mirror floor was superseded by that derivation: remove it again.
      create(id)
      if seq < floorSeq() then
        again[#again + 1] = id
        again[#again + 1] = floor
      end
    elseif pending then
      -- Same race, removal still pending: which request lands last is unknown; x makes the removal
      -- go again once it settles (an upsert sent after the r flag waits, so x is always older).
      if not string.find(flags, 'x', 1, true) then flags = flags .. 'x' end
      put(id, idx36 .. '|' .. s36 .. '|' .. flags .. '|')
    elseif s <= seq then
      prefix = prefix or ((rcall('HGET', meta, 'fpEpoch') or '0') .. '.')
      put(id, idx36 .. '|' .. s36 .. '|' .. flags .. '|' .. prefix .. fp)
    end
  elseif repair then
    if outcome == 'removed' and v and not pending and s < tonumber(fp) then drop(id, idx) end
  elseif outcome == 'removed' then
    if pending then
      if string.find(flags, 'x', 1, true) then
        put(id, idx36 .. '|' .. s36 .. '||')
        again[#again + 1] = id
        again[#again + 1] = seq
        if derived then fresh = true end
      elseif s > seq then
        put(id, idx36 .. '|' .. s36 .. '||' .. fpf)
      else
        drop(id, idx)
        if derived then fresh = true end
      end
    end
  elseif outcome == 'rejected' then
    if pending then
      put(id, idx36 .. '|' .. s36 .. '||' .. fpf)
      if derived then fresh = true end
    end
  end

  if fresh then
    newly = newly + 1
    counts[outcome] = counts[outcome] + 1
  end
end

flush()

if newly > 0 then
  if counting then
    rcall('HINCRBY', run, 'settled', newly)
    rcall('HSET', run, 'lastAt', now)
  end
  for name, n in pairs(counts) do
    if n > 0 then rcall('HINCRBY', run, name, n) end
  end
end

local function answer(c)
  local out = { newly, c, lsn, #again }
  for _, id in ipairs(again) do out[#out + 1] = id end
  for _, v in ipairs(changes) do out[#out + 1] = v end
  return out
end

if derived or repair or op == 'start' then return answer(0) end
if done then return answer(3) end
if state == 'open' then
  local expected = rcall('HGET', run, 'expected')
  if expected and tonumber(rcall('HGET', run, 'settled')) >= tonumber(expected) then
    rcall('HSET', run, 'state', 'complete', 'completedAt', now)
    state = 'complete'
  end
end
if state == 'complete' or state == 'deriving' then
  local first = blocker()
  if first then
    rcall('HSET', run, 'waitingFor', first)
    return answer(4)
  end
  if rcall('SET', lease, ARGV[7], 'NX', 'PX', ARGV[6]) then
    rcall('HSET', run, 'state', 'deriving', 'owner', ARGV[7], 'claimedAt', now)
    rcall('HDEL', run, 'waitingFor')
    return answer(1)
  end
  return answer(2)
end
return answer(0)
