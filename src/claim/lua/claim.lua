-- outcry ownership claim: one atomic step per event.
--
-- KEYS[1]  owner hash      {department, token, lease_until, sla_deadline, rank, priority, opened_at, event_id}
-- KEYS[2]  fence counter   (never expires, never goes back: fencing tokens are never reused)
-- KEYS[3]  event decision  (the answer given for this event id, kept for the redelivery window)
-- All three share the owner key's hash tag, so they live in one Redis Cluster slot.
--
-- ARGV: now_ms, department, rank (1 = p1), priority, lease_ms, sla_ms, remember_ms, event_id
--
-- Returns {replayed (0/1), "outcome|department|token|priority|sla_deadline|lease_until|bumped"}

local seen = redis.call('GET', KEYS[3])
if seen then
  return {1, seen}
end

local now = tonumber(ARGV[1])
local lease_ms = tonumber(ARGV[5])
local o = redis.call('HMGET', KEYS[1], 'department', 'token', 'lease_until', 'sla_deadline', 'rank', 'priority')
local result

if o[1] and tonumber(o[3]) > now then
  -- An owner holds the lease: attach, whatever routing said; pass a higher priority on.
  local bumped = 0
  local priority = o[6]
  if tonumber(ARGV[3]) < tonumber(o[5]) then
    priority = ARGV[4]
    bumped = 1
    redis.call('HSET', KEYS[1], 'rank', ARGV[3], 'priority', priority)
  end
  local lease_until = math.max(tonumber(o[3]), now + lease_ms)
  redis.call('HSET', KEYS[1], 'lease_until', lease_until)
  -- Relative expiry: the worker's clock decides the lease, Redis's only counts it down.
  redis.call('PEXPIRE', KEYS[1], lease_until - now)
  result = 'attached|' .. o[1] .. '|' .. o[2] .. '|' .. priority .. '|' .. o[4] .. '|' .. lease_until .. '|' .. bumped
else
  -- No owner (or the lease ran out): open a new ownership with a fresh fencing token.
  local token = redis.call('INCR', KEYS[2])
  local lease_until = now + lease_ms
  local sla_deadline = now + tonumber(ARGV[6])
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1],
    'department', ARGV[2], 'token', token, 'lease_until', lease_until,
    'sla_deadline', sla_deadline, 'rank', ARGV[3], 'priority', ARGV[4],
    'opened_at', now, 'event_id', ARGV[8])
  redis.call('PEXPIRE', KEYS[1], lease_ms)
  result = 'new|' .. ARGV[2] .. '|' .. token .. '|' .. ARGV[4] .. '|' .. sla_deadline .. '|' .. lease_until .. '|0'
end

redis.call('SET', KEYS[3], result, 'PX', ARGV[7])
return {0, result}
