-- outcry ownership scripts: shared helpers (prepended to every script).
--
-- Every key a script touches belongs to one owner key and carries it as its hash tag
-- (`<prefix>:{<owner key>}:...`), so a script runs in one Redis Cluster slot.
-- Arguments come as one JSON object in ARGV[1] (a claim's as positional ARGV, claim.lua: a batch
-- sends many); results go back as JSON text.
--
-- Owner hash fields: department queue token rank priority lease_until opened_at event_id
--   candidates (`d/q,d/q`) escalation on_breach first_ms resolution_ms first_due resolve_due
--   responded_at accepted_at bounces bounced (`,dept,dept,`) trail (`at|from|tok|to|why` lines)
--   breached (`,first_response,resolution,`) sla_state (`taken:<ms>`) breach (JSON) breach_token

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  return h
end

local function num(v)
  return tonumber(v) or 0
end

-- Push one history entry (newest first), trim by length, then drop the oldest past max age.
-- Reads skip entries past the age, so dropping them is amortized: on every 16th entry and
-- whenever the list is full (LPUSH + PEXPIRE is the usual cost of a write).
local function history(key, a, entry)
  entry.at_ms = a.now
  local n = redis.call('LPUSH', key, string.format('%d', a.now) .. '|' .. cjson.encode(entry))
  if n > a.history_max then
    redis.call('LTRIM', key, 0, a.history_max - 1)
  end
  if n % 16 == 0 or n > a.history_max then
    local oldest = a.now - a.history_age_ms
    while true do
      local last = redis.call('LINDEX', key, -1)
      if not last then break end
      local at = tonumber(string.match(last, '^(%-?%d+)|'))
      if at and at < oldest then redis.call('RPOP', key) else break end
    end
  end
  redis.call('PEXPIRE', key, a.history_age_ms)
end

-- The next deadline of an ownership and its kind: first response until responded (unless
-- already breached), then resolution (unless breached); 0 when none is left.
local function next_due(h)
  local breached = h.breached or ''
  if (h.responded_at or '') == '' and not string.find(breached, ',first_response,', 1, true) then
    return num(h.first_due), 'first_response'
  end
  if not string.find(breached, ',resolution,', 1, true) then
    return num(h.resolve_due), 'resolution'
  end
  return 0, ''
end

local function split_target(t)
  local d, q = string.match(t, '^([^/]*)/(.*)$')
  return d or t, q or 'default'
end

local function trail_add(h, now, to, why)
  local step = string.format('%d', now) .. '|' .. h.department .. '/' .. h.queue .. '|' ..
    h.token .. '|' .. to .. '|' .. why
  if (h.trail or '') == '' then return step end
  return h.trail .. '\n' .. step
end

-- Hand the ownership to `target` (`d/q`) with a new token. Returns the new token.
local function move(owner_key, fence_key, h, a, target, why)
  local token = redis.call('INCR', fence_key)
  local d, q = split_target(target)
  local trail = trail_add(h, a.now, target, why)
  redis.call('HSET', owner_key, 'department', d, 'queue', q, 'token', token, 'trail', trail)
  h.department, h.queue, h.token, h.trail = d, q, tostring(token), trail
  return token
end
