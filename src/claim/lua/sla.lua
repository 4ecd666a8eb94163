-- sla: check one owner key's deadline against its owner record; take the breach if it is due
-- and no other sweeper holds it (or the one that took it is past retake_ms: it crashed).
-- KEYS: owner hash, fence counter, history
-- ARGV[1]: {now, owner_key, retake_ms, history_max, history_age_ms}
-- Returns {status, JSON or '', next due ms}: status `none` (no deadline left; 0),
-- `later` (due later; the due time), `taken` (someone else has it), `breach`.

local a = cjson.decode(ARGV[1])
local now = a.now
local h = hgetall(KEYS[1])
if not h.token or num(h.lease_until) <= now then
  return {'none', '', '0'}
end
local state = h.sla_state or ''
if state ~= '' then
  local at = num(string.match(state, '^taken:(%-?%d+)$'))
  if now < at + a.retake_ms then
    return {'taken', '', '-1'}
  end
  -- The sweeper that took it did not finish: the same breach again, to this one.
  redis.call('HSET', KEYS[1], 'sla_state', 'taken:' .. string.format('%d', now))
  local b = cjson.decode(h.breach)
  b.retaken = true
  return {'breach', cjson.encode(b), '-1'}
end
local due, kind = next_due(h)
if due == 0 then
  return {'none', '', '0'}
end
if due > now then
  return {'later', '', string.format('%d', due)}
end

local from_d, from_q, from_t = h.department, h.queue, num(h.token)
local token = move(KEYS[1], KEYS[2], h, a, h.on_breach, 'sla_breached: ' .. kind)
local breached = (h.breached or ',') .. kind .. ','
local b = {owner_key = a.owner_key, kind = kind, due_ms = due, from_department = from_d,
           from_queue = from_q, from_token = from_t, department = h.department,
           queue = h.queue, token = token, priority = h.priority, trail = h.trail,
           resolution_due_ms = num(h.resolve_due), bounces = num(h.bounces),
           retaken = false}
local encoded = cjson.encode(b)
redis.call('HSET', KEYS[1], 'breached', breached, 'sla_state',
  'taken:' .. string.format('%d', now), 'breach', encoded, 'breach_token', token)
history(KEYS[3], a, {type = 'sla_breached', department = h.department, queue = h.queue,
                     token = token, id = 'sla:' .. kind, note = 'from ' .. from_d .. '/' .. from_q})
return {'breach', encoded, '-1'}
