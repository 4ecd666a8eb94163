-- feedback: accepted, responded, resolved, bounced, outbound — for the owner holding `token`.
-- KEYS: owner hash, fence counter, feedback decision, history
-- ARGV[1]: {now, feedback_id, kind, token, note, remember_ms, bounce_limit, lease_ms,
--           history_max, history_age_ms}
-- Returns {replayed 0/1, result JSON, next due ms (-1: leave the index alone, 0: none)}

local a = cjson.decode(ARGV[1])
local seen = redis.call('GET', KEYS[3])
if seen then
  return {1, seen, -1}
end

local now = a.now
local h = hgetall(KEYS[1])
local r
local function finish(result, due)
  local encoded = cjson.encode(result)
  redis.call('SET', KEYS[3], encoded, 'PX', a.remember_ms)
  return {0, encoded, string.format('%d', due)}
end
local function trail_list()
  return h.trail or ''
end

if not h.token or num(h.lease_until) <= now then
  history(KEYS[4], a, {type = 'refused', department = '', queue = '', token = a.token,
                       id = a.feedback_id, note = a.kind .. ': no_owner'})
  return finish({outcome = 'refused', refused = 'no_owner'}, -1)
end
if num(h.token) ~= a.token then
  history(KEYS[4], a, {type = 'refused', department = h.department, queue = h.queue,
                       token = a.token, id = a.feedback_id, note = a.kind .. ': stale_token'})
  return finish({outcome = 'refused', refused = 'stale_token', department = h.department,
                 queue = h.queue, token = num(h.token), priority = h.priority,
                 bounces = num(h.bounces), trail = trail_list(),
                 sla_deadline_ms = num(h.first_due)}, -1)
end

-- Any valid feedback shows the case is alive: the lease runs at least lease_ms from now.
local lease_until = math.max(num(h.lease_until), now + a.lease_ms)
redis.call('HSET', KEYS[1], 'lease_until', string.format('%d', lease_until))
redis.call('PEXPIRE', KEYS[1], lease_until - now)

local outcome = a.kind
local entry_type = a.kind
local first_response_ms = nil
if a.kind == 'accepted' then
  redis.call('HSET', KEYS[1], 'accepted_at', string.format('%d', now))
elseif a.kind == 'responded' then
  if (h.responded_at or '') == '' then
    h.responded_at = string.format('%d', now)
    redis.call('HSET', KEYS[1], 'responded_at', h.responded_at)
    first_response_ms = now - num(h.opened_at)
  end
elseif a.kind == 'resolved' then
  redis.call('DEL', KEYS[1])
  history(KEYS[4], a, {type = 'resolved', department = h.department, queue = h.queue,
                       token = a.token, id = a.feedback_id, note = a.note})
  return finish({outcome = 'resolved', department = h.department, queue = h.queue,
                 token = a.token, priority = h.priority, bounces = num(h.bounces),
                 trail = trail_list(), sla_deadline_ms = 0}, 0)
elseif a.kind == 'bounced' then
  local bounces = num(h.bounces) + 1
  local bounced = (h.bounced or ',') .. h.department .. ','
  local target = nil
  if bounces < a.bounce_limit then
    for c in string.gmatch(h.candidates or '', '[^,]+') do
      local d = split_target(c)
      if not string.find(bounced, ',' .. d .. ',', 1, true) then target = c break end
    end
  end
  local why
  if target then
    outcome, why = 'rerouted', 'bounced: ' .. a.note
  else
    target = h.escalation
    outcome, why = 'escalated', 'escalated: bounce ' .. bounces .. ' of ' .. a.bounce_limit ..
      (a.note ~= '' and (', ' .. a.note) or '')
  end
  history(KEYS[4], a, {type = 'bounced', department = h.department, queue = h.queue,
                       token = a.token, id = a.feedback_id, note = a.note})
  move(KEYS[1], KEYS[2], h, a, target, why)
  -- The new owner gets a new first-response clock; earlier breaches were someone else's.
  h.first_due = string.format('%d', now + num(h.first_ms))
  h.responded_at, h.breached = '', ','
  redis.call('HSET', KEYS[1], 'bounces', bounces, 'bounced', bounced,
    'first_due', h.first_due, 'responded_at', '', 'breached', ',', 'sla_state', '')
  h.bounces = tostring(bounces)
  entry_type = outcome
elseif a.kind == 'outbound' then
  outcome = 'recorded'
end

history(KEYS[4], a, {type = entry_type, department = h.department, queue = h.queue,
                     token = num(h.token), id = a.feedback_id, note = a.note})
local due = next_due(h)
return finish({outcome = outcome, department = h.department, queue = h.queue,
               token = num(h.token), priority = h.priority, bounces = num(h.bounces),
               trail = trail_list(), sla_deadline_ms = num(h.first_due),
               first_response_ms = first_response_ms}, due)
