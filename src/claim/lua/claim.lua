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

-- The arguments of the claim whose first argument is ARGV[i]. Numbers the script computes with
-- are converted; those it only stores or passes on stay text (`*_s`): a Lua number written
-- back costs a float formatting.
local function claim_args(i)
  return {now = tonumber(ARGV[i]), now_s = ARGV[i], event_id = ARGV[i + 1],
          candidates = ARGV[i + 2], escalation = ARGV[i + 3], on_breach = ARGV[i + 4],
          rank = tonumber(ARGV[i + 5]), rank_s = ARGV[i + 5], priority = ARGV[i + 6],
          lease_ms = tonumber(ARGV[i + 7]), first_ms = tonumber(ARGV[i + 8]),
          first_ms_s = ARGV[i + 8], resolution_ms = tonumber(ARGV[i + 9]),
          resolution_ms_s = ARGV[i + 9], remember_ms_s = ARGV[i + 10],
          history_max = tonumber(ARGV[1]), history_age_ms = tonumber(ARGV[2])}
end

-- The owner hash fields a claim reads (HMGET: reading the whole hash into a table costs ~2.5x).
local OWNER_READ = {'token', 'lease_until', 'rank', 'department', 'queue', 'priority',
                    'first_due', 'resolve_due', 'responded_at', 'breached', 'history_until'}

local function read_owner(key)
  local v = redis.call('HMGET', key, unpack(OWNER_READ))
  local h = {}
  for i = 1, #OWNER_READ do
    if v[i] then h[OWNER_READ[i]] = v[i] end
  end
  return h
end

-- The claim's answer as JSON (Claim's fields), built as text: cjson.encode of a table is ~2x.
local function claim_json(outcome, department, queue, token, priority, first_due, resolve_due,
                          lease_until, bumped)
  return '{"outcome":"' .. outcome .. '","department":' .. jstr(department) .. ',"queue":' ..
    jstr(queue) .. ',"token":' .. int(token) .. ',"priority":' .. jstr(priority) ..
    ',"sla_deadline_ms":' .. int(first_due) .. ',"resolution_due_ms":' .. int(resolve_due) ..
    ',"lease_until_ms":' .. int(lease_until) .. ',"bumped":' .. (bumped and 'true' or 'false') ..
    '}'
end

-- The claim's history entry. The history must live `history.max_age` past its newest entry;
-- rather than an expiry per entry, a claim sets one a quarter longer and notes it in the owner
-- hash (`history_until`): the next claims renew it only once less than the age is left, so
-- most entries cost their LPUSH alone. Returns the new `history_until`, or nil when unchanged.
local function claim_history(k_history, a, h, entry)
  local n = history_push(k_history, a, entry)
  if n > 1 and num(h.history_until) >= a.now + a.history_age_ms then
    return nil
  end
  local keep = a.history_age_ms + math.floor(a.history_age_ms / 4)
  history_keep(k_history, n, keep)
  return int(a.now + keep)
end

local function claim(k_owner, k_fence, k_event, k_history, a)
  local seen = redis.call('GET', k_event)
  if seen then
    return {1, seen, -1}
  end

  local now = a.now
  local h = read_owner(k_owner)
  local encoded
  if h.token and num(h.lease_until) > now then
    -- An owner holds the lease: attach, whatever routing said; pass a higher priority on.
    -- Only what changes is written: usually nothing but the history entry (the lease runs
    -- at least until the resolution is due, so an attach seldom extends it).
    local token = num(h.token)
    local fields = {}
    local function set(field, value)
      fields[#fields + 1] = field
      fields[#fields + 1] = value
    end
    local old_lease = num(h.lease_until)
    local lease_until = math.max(old_lease, now + a.lease_ms)
    if lease_until > old_lease then
      set('lease_until', int(lease_until))
    end
    local bumped = a.rank < num(h.rank)
    if bumped then
      h.priority = a.priority
      set('rank', a.rank_s)
      set('priority', a.priority)
    end
    local history_until = claim_history(k_history, a, h, {type = 'attached',
      department = h.department, queue = h.queue, token = token, id = a.event_id})
    if history_until then
      set('history_until', history_until)
    end
    if #fields > 0 then
      redis.call('HSET', k_owner, unpack(fields))
    end
    if lease_until > old_lease then
      -- Relative expiry: the worker's clock decides the lease; Redis only counts it down.
      redis.call('PEXPIRE', k_owner, int(lease_until - now))
    end
    encoded = claim_json('attached', h.department, h.queue, token, h.priority, num(h.first_due),
                         num(h.resolve_due), lease_until, bumped)
  else
    -- No owner (or the lease ran out): a new ownership with a fresh fencing token.
    local token = redis.call('INCR', k_fence)
    local d, q = split_target(string.match(a.candidates, '^[^,]*'))
    local first_due = now + a.first_ms
    local resolve_due = now + a.resolution_ms
    -- The ownership lasts at least until its resolution is due.
    local lease_until = math.max(now + a.lease_ms, resolve_due)
    if h.token then
      -- A lapsed ownership's fields (trail, bounces, ...) must not leak into the new one.
      redis.call('DEL', k_owner)
    end
    -- A new owner hash knows nothing of the history's expiry: renew it.
    local history_until = claim_history(k_history, a, {}, {type = 'assigned', department = d,
      queue = q, token = token, id = a.event_id})
    redis.call('HSET', k_owner,
      'department', d, 'queue', q, 'token', int(token), 'rank', a.rank_s, 'priority', a.priority,
      'lease_until', int(lease_until), 'opened_at', a.now_s,
      'event_id', a.event_id, 'candidates', a.candidates,
      'escalation', a.escalation, 'on_breach', a.on_breach,
      'first_ms', a.first_ms_s, 'resolution_ms', a.resolution_ms_s,
      'first_due', int(first_due), 'resolve_due', int(resolve_due),
      'bounces', '0', 'bounced', ',', 'breached', ',', 'history_until', history_until)
    redis.call('PEXPIRE', k_owner, int(lease_until - now))
    -- What next_due reads of a fresh ownership: not responded, nothing breached.
    h = {first_due = first_due, resolve_due = resolve_due, breached = ','}
    encoded = claim_json('new', d, q, token, a.priority, first_due, resolve_due, lease_until,
                         false)
  end

  redis.call('SET', k_event, encoded, 'PX', a.remember_ms_s)
  return {0, encoded, int(next_due(h))}
end
