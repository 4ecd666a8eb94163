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
-- An owner hash exists only with its `token`: claim.lua creates it with one, every other
-- script writes to it only after finding one (so "no token" means "no hash").

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  return h
end

local function num(v)
  return tonumber(v) or 0
end

-- A JSON string. Names and ids are plain text almost always: quoted as they are, cjson only
-- for the rare one that needs escaping (cjson.encode of a whole table costs ~2 µs per call).
local function jstr(s)
  if string.find(s, '[%c"\\]') then return cjson.encode(s) end
  return '"' .. s .. '"'
end

-- An integer as text: `%d`, not Lua's float formatting (`%.14g`, what `tostring` and a number
-- passed to redis.call use: ~2x the cost).
local function int(n)
  return string.format('%d', n)
end

-- Push one history entry (newest first), trim by length, then drop the oldest past max age;
-- returns the list's length. Both caps are amortized: reads take at most `history_max`
-- entries and skip those past the age, so the list is trimmed back to `history_max` once it
-- runs an eighth over, and the oldest are dropped on every 16th entry and at each trim.
-- entry: type, department, queue, token, id, note (HistoryEntry's fields); written as
-- `<at ms>|<JSON>`.
local function history_push(key, a, entry)
  local at = int(a.now)
  local n = redis.call('LPUSH', key, at .. '|{"type":' .. jstr(entry.type) .. ',"department":' ..
    jstr(entry.department or '') .. ',"queue":' .. jstr(entry.queue or '') .. ',"token":' ..
    int(entry.token or 0) .. ',"id":' .. jstr(entry.id or '') .. ',"note":' ..
    jstr(entry.note or '') .. ',"at_ms":' .. at .. '}')
  local trim = n > a.history_max + math.floor(a.history_max / 8)
  if trim then
    redis.call('LTRIM', key, 0, int(a.history_max - 1))
  end
  if n % 16 == 0 or trim then
    local oldest = a.now - a.history_age_ms
    while true do
      local last = redis.call('LINDEX', key, -1)
      if not last then break end
      local at_ms = tonumber(string.match(last, '^(%-?%d+)|'))
      if at_ms and at_ms < oldest then redis.call('RPOP', key) else break end
    end
  end
  return n
end

-- Make the history live at least `ms` from now. Expiries only move later (`GT`), so a claim
-- that set a longer one (claim.lua `history_until`) is never cut short; a list the push just
-- created (n == 1) has none yet (`GT` would leave it without one).
local function history_keep(key, n, ms)
  if n == 1 then
    redis.call('PEXPIRE', key, int(ms))
  else
    redis.call('PEXPIRE', key, int(ms), 'GT')
  end
end

-- A history entry, and the history lives `history.max_age` past it.
local function history(key, a, entry)
  history_keep(key, history_push(key, a, entry), a.history_age_ms)
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
