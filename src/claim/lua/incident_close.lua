-- incident_close: end an open incident (resolved through feedback, or expired), once.
-- KEYS: incident (hash), (unused), linked
-- ARGV[1]: {incident_id, now, reason, only_if_expired}
-- Returns the closed incident as JSON; '' when it is not open (closed before, or another one
-- opened since); '-' when it is open but not expired yet (the caller's clock runs behind).

local a = cjson.decode(ARGV[1])
local h = hgetall(KEYS[1])
if h.id ~= a.incident_id or h.status ~= 'open' then
  return ''
end
if a.only_if_expired and num(h.expires_at) > a.now then
  return '-'
end
redis.call('HSET', KEYS[1], 'status', 'closed', 'closed_at', string.format('%d', a.now),
  'cooldown_until', string.format('%d', a.now + num(h.cooldown_ms)))
return cjson.encode({incident_id = h.id, opened_at_ms = num(h.opened_at), closed_at_ms = a.now,
                     reason = a.reason, linked = redis.call('SCARD', KEYS[3])})
