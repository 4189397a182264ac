--[[
  Records one request about to leave with items of the given partitions, until it is answered or its
  deadline passes (a crashed instance never removes its entries).

  Input:
    KEYS[1] in-flight sorted set of a group's topic: member "<partition>|<owner>|<request>", score = deadline (ms)
    ARGV[1] time to live, ms
    ARGV[2] owner|request suffix
    ARGV[3..] partitions

  Output:
    the number of members added
]]
local rcall = redis.call
local clock = rcall('TIME')
local deadline = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000) + tonumber(ARGV[1])
for i = 3, #ARGV do
  rcall('ZADD', KEYS[1], deadline, ARGV[i] .. '|' .. ARGV[2])
end
if rcall('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  rcall('PEXPIRE', KEYS[1], ARGV[1])
end
return #ARGV - 2
