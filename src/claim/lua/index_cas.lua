-- index_cas: move one owner key's entry in an SLA index bucket only if it still has the score
-- the sweeper read (a writer may have indexed an earlier deadline since).
-- KEYS: the bucket (sorted set)
-- ARGV: member, expected score, new score (0: remove)
-- Returns 1 if changed.

local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then
  return 0
end
if tonumber(ARGV[3]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
