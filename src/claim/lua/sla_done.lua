-- sla_done: the breach with this token was emitted; let it go and report the next deadline.
-- KEYS: owner hash
-- ARGV[1]: {token}
-- Returns the next due ms (0: none).

local a = cjson.decode(ARGV[1])
local h = hgetall(KEYS[1])
if not h.token then
  return '0'
end
if num(h.breach_token) == a.token then
  redis.call('HSET', KEYS[1], 'sla_state', '')
  redis.call('HDEL', KEYS[1], 'breach', 'breach_token')
  h.sla_state = ''
end
local due = next_due(h)
return string.format('%d', due)
