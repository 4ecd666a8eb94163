-- claim: one inbound event. New ownership, attach to the current owner, or (same event id
-- again) the same decision as before.
-- KEYS: owner hash, fence counter, event decision, history
-- ARGV: positional, no JSON to encode or decode per event: ARGV[1] history_max, ARGV[2]
--   history_age_ms (shared by a call's claims), then CLAIM_ARGS per event from `claim_args`:
--   now, event_id, candidates (`d/q,d/q`, in order), escalation, on_breach, rank, priority,
--   lease_ms, first_ms, resolution_ms, remember_ms
-- Returns {replayed 0/1, claim JSON, next due ms}
--
-- `claim` is the whole decision for one event; claim_one.lua calls it for one event (KEYS,
-- claim_args(3)), claim_batch.lua for a batch of events on one node (4 KEYS and CLAIM_ARGS
-- arguments each).

local CLAIM_ARGS = 11

-- The arguments of the claim whose first argument is ARGV[i].
local function claim_args(i)
  return {now = tonumber(ARGV[i]), event_id = ARGV[i + 1], candidates = ARGV[i + 2],
          escalation = ARGV[i + 3], on_breach = ARGV[i + 4], rank = tonumber(ARGV[i + 5]),
          priority = ARGV[i + 6], lease_ms = tonumber(ARGV[i + 7]),
          first_ms = tonumber(ARGV[i + 8]), resolution_ms = tonumber(ARGV[i + 9]),
          remember_ms = tonumber(ARGV[i + 10]), history_max = tonumber(ARGV[1]),
          history_age_ms = tonumber(ARGV[2])}
end

local function claim(k_owner, k_fence, k_event, k_history, a)
  local seen = redis.call('GET', k_event)
  if seen then
    return {1, seen, -1}
  end

  local now = a.now
  local h = hgetall(k_owner)
  local r
  if h.token and num(h.lease_until) > now then
    -- An owner holds the lease: attach, whatever routing said; pass a higher priority on.
    local bumped = false
    local lease_until = math.max(num(h.lease_until), now + a.lease_ms)
    if a.rank < num(h.rank) then
      h.rank, h.priority, bumped = tostring(a.rank), a.priority, true
      redis.call('HSET', k_owner, 'rank', a.rank, 'priority', a.priority,
        'lease_until', string.format('%d', lease_until))
    else
      redis.call('HSET', k_owner, 'lease_until', string.format('%d', lease_until))
    end
    -- Relative expiry: the worker's clock decides the lease; Redis only counts it down.
    redis.call('PEXPIRE', k_owner, lease_until - now)
    r = {outcome = 'attached', department = h.department, queue = h.queue, token = num(h.token),
         priority = h.priority, sla_deadline_ms = num(h.first_due),
         resolution_due_ms = num(h.resolve_due), lease_until_ms = lease_until, bumped = bumped}
    history(k_history, a, {type = 'attached', department = h.department, queue = h.queue,
                         token = num(h.token), id = a.event_id, note = ''})
  else
    -- No owner (or the lease ran out): a new ownership with a fresh fencing token.
    local token = redis.call('INCR', k_fence)
    local d, q = split_target(string.match(a.candidates, '^[^,]*'))
    local first_due = now + a.first_ms
    local resolve_due = now + a.resolution_ms
    -- The ownership lasts at least until its resolution is due.
    local lease_until = math.max(now + a.lease_ms, resolve_due)
    if next(h) ~= nil then
      -- A lapsed ownership's fields (trail, bounces, ...) must not leak into the new one.
      redis.call('DEL', k_owner)
    end
    redis.call('HSET', k_owner,
      'department', d, 'queue', q, 'token', token, 'rank', a.rank, 'priority', a.priority,
      'lease_until', string.format('%d', lease_until), 'opened_at', string.format('%d', now),
      'event_id', a.event_id, 'candidates', a.candidates,
      'escalation', a.escalation, 'on_breach', a.on_breach,
      'first_ms', string.format('%d', a.first_ms), 'resolution_ms', string.format('%d', a.resolution_ms),
      'first_due', string.format('%d', first_due), 'resolve_due', string.format('%d', resolve_due),
      'bounces', 0, 'bounced', ',', 'breached', ',')
    redis.call('PEXPIRE', k_owner, lease_until - now)
    -- What next_due reads of a fresh ownership: not responded, nothing breached.
    h = {first_due = first_due, resolve_due = resolve_due, breached = ','}
    r = {outcome = 'new', department = d, queue = q, token = token, priority = a.priority,
         sla_deadline_ms = first_due, resolution_due_ms = resolve_due,
         lease_until_ms = lease_until, bumped = false}
    history(k_history, a, {type = 'assigned', department = d, queue = q, token = token,
                         id = a.event_id, note = ''})
  end

  local encoded = cjson.encode(r)
  redis.call('SET', k_event, encoded, 'PX', a.remember_ms)
  local due = next_due(h)
  return {0, encoded, string.format('%d', due)}
end
