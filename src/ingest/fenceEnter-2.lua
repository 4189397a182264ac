--[[
  Records one request about to leave with items of the given partitions, until it is answered or its
  deadline passes (a crashed instance never removes its entries); unless a newer generation of the
  consumer group owns one of the partitions (fenceClaim-1.lua): then the sender is a zombie, expelled
  from the group without knowing it yet, and nothing is recorded.
  A generation not stored yet, or older, is replaced by the sender's (its claim may have failed).

  Input:
    KEYS[1] in-flight sorted set of a group's topic: member "<partition>|<owner>|<request>", score = deadline (ms)
    KEYS[2] generation per partition of the same group's topic (see fenceClaim-1.lua)
    ARGV[1] time to live, ms
    ARGV[2] request suffix
    ARGV[3..] pairs: "<partition>|<owner>", the owner's generation ('' when unknown: not checked)

  Output:
    the partitions a newer generation owns (nothing recorded), or an empty array (recorded)
]]
local rcall = redis.call
local clock = rcall('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local refused = {}
local claims = {}
for i = 3, #ARGV, 2 do
  local generation = tonumber(ARGV[i + 1])
  if generation then
    local partition = string.match(ARGV[i], '^([^|]*)|')
    local stored = rcall('HGET', KEYS[2], partition)
    local held = stored and tonumber(string.match(stored, '^(%d+)|'))
    if held and held > generation then
      refused[#refused + 1] = partition
    elseif held ~= generation then
      claims[partition] = generation
    end
  end
end
if #refused > 0 then
  return refused
end
for partition, generation in pairs(claims) do
  rcall('HSET', KEYS[2], partition, generation .. '|' .. now)
  rcall('PEXPIRE', KEYS[2], 604800000)
end
local deadline = now + tonumber(ARGV[1])
for i = 3, #ARGV, 2 do
  rcall('ZADD', KEYS[1], deadline, ARGV[i] .. '|' .. ARGV[2])
end
if rcall('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  rcall('PEXPIRE', KEYS[1], ARGV[1])
end
return refused
