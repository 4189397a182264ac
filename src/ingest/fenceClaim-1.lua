--[[
  Records which generation of the consumer group owns each given partition, at assignment. A claim never
  replaces a newer generation's, unless that one was made more than ARGV[2] ms ago: generations restart
  at 1 only when the group was deleted (all its members gone), so an entry that old is not a live owner.

  Input:
    KEYS[1] hash of a group's topic: field "<partition>" = "<generation>|<claimed at, ms>"
    ARGV[1] the claiming generation
    ARGV[2] age after which a newer generation's entry may be replaced, ms
    ARGV[3..] partitions

  Output:
    the partitions a newer generation holds (not claimed)
]]
local rcall = redis.call
local clock = rcall('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local generation = tonumber(ARGV[1])
local refused = {}
for i = 3, #ARGV do
  local stored = rcall('HGET', KEYS[1], ARGV[i])
  local held, at = nil, 0
  if stored then
    local g, t = string.match(stored, '^(%d+)|(%d+)$')
    held, at = tonumber(g), tonumber(t)
  end
  if held and held > generation and now - at < tonumber(ARGV[2]) then
    refused[#refused + 1] = ARGV[i]
  elseif held ~= generation then
    rcall('HSET', KEYS[1], ARGV[i], generation .. '|' .. now)
  end
end
rcall('PEXPIRE', KEYS[1], 604800000)
return refused
