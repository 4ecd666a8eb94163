-- detect: count one event towards a detector key's sliding window (once per event id), and
-- open, link to, or (when expired) close that key's incident. Atomic: of all the workers whose
-- events cross the threshold, exactly one gets `opened`.
-- KEYS: events (sorted set: event id -> time), authors (sorted set), the event's decision,
--       buckets (hash: window number -> count, for the usual rate), incident (hash),
--       (unused, kept for key-layout stability), seq (incident counter), linked (set of ids)
-- Times are the worker's clock (ARGV), like leases: the cooldown is the incident's
-- `cooldown_until`, not a Redis expiry.
-- ARGV[1]: {now, detector, group, event_id, author, window_ms, kind (events|authors|rate), n,
--           multiple, baseline_ms, min_events, cooldown_ms, expire_ms, remember_ms}
-- Returns {replayed 0/1, decision JSON}
--
-- `detect` is the whole decision for one event and one detector key; detect_one.lua calls it
-- for one (KEYS, ARGV[1]), detect_batch.lua for a batch on one node (8 KEYS and one ARGV each).

local function detect(KEYS, a)
  local seen = redis.call('GET', KEYS[3])
  if seen then
    return {1, seen}
  end
  local now = a.now
  local from = now - a.window_ms
  local keep = a.window_ms + 60000
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%d', from))
  redis.call('ZADD', KEYS[1], now, a.event_id)
  redis.call('PEXPIRE', KEYS[1], keep)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.format('%d', from))
  redis.call('ZADD', KEYS[2], now, a.author)
  redis.call('PEXPIRE', KEYS[2], keep)
  local events = redis.call('ZCARD', KEYS[1])
  local authors = redis.call('ZCARD', KEYS[2])
  local bucket = math.floor(now / a.window_ms)
  local nb = math.max(1, math.floor(a.baseline_ms / a.window_ms))
  if a.kind == 'rate' then
    redis.call('HINCRBY', KEYS[4], string.format('%d', bucket), 1)
    redis.call('PEXPIRE', KEYS[4], a.baseline_ms + 2 * a.window_ms)
    if redis.call('HLEN', KEYS[4]) > 2 * nb + 2 then
      for _, b in ipairs(redis.call('HKEYS', KEYS[4])) do
        if tonumber(b) < bucket - nb then redis.call('HDEL', KEYS[4], b) end
      end
    end
  end

  local r = {outcome = 'counted', events = events, authors = authors}
  local h = hgetall(KEYS[5])
  if h.status == 'open' and num(h.expires_at) <= now then
    -- Expired while nobody looked: close it here, once.
    h.cooldown_until = string.format('%d', now + num(h.cooldown_ms))
    redis.call('HSET', KEYS[5], 'status', 'closed', 'closed_at', string.format('%d', now),
      'cooldown_until', h.cooldown_until)
    r.closed = {incident_id = h.id, opened_at_ms = num(h.opened_at), closed_at_ms = now,
                reason = 'expired', linked = redis.call('SCARD', KEYS[8])}
    h.status = 'closed'
  end
  if h.status == 'open' then
    redis.call('SADD', KEYS[8], a.event_id)
    r.outcome = 'linked'
    r.incident_id = h.id
    r.expires_at_ms = num(h.expires_at)
  elseif num(h.cooldown_until) > now then
    r.outcome = 'cooldown'
  else
    local crossed = false
    if a.kind == 'events' then
      crossed = events >= a.n
    elseif a.kind == 'authors' then
      crossed = authors >= a.n
    else
      local fields = {}
      for b = bucket - nb, bucket - 1 do fields[#fields + 1] = string.format('%d', b) end
      local sum = 0
      for _, c in ipairs(redis.call('HMGET', KEYS[4], unpack(fields))) do sum = sum + num(c) end
      local usual = sum / nb
      r.usual = usual
      crossed = events >= a.min_events and events >= a.multiple * usual
    end
    if crossed then
      local seq = redis.call('INCR', KEYS[7])
      local id = a.detector .. ':' .. a.group .. ':' .. seq
      local expires = now + a.expire_ms
      redis.call('DEL', KEYS[5], KEYS[8])
      redis.call('HSET', KEYS[5], 'id', id, 'status', 'open', 'opened_at', string.format('%d', now),
        'expires_at', string.format('%d', expires), 'cooldown_ms', string.format('%d', a.cooldown_ms))
      local members = redis.call('ZRANGE', KEYS[1], 0, -1)
      redis.call('SADD', KEYS[8], unpack(members))
      r.outcome = 'opened'
      r.incident_id = id
      r.expires_at_ms = expires
      r.window_events = members
    end
  end
  local encoded = cjson.encode(r)
  redis.call('SET', KEYS[3], encoded, 'PX', a.remember_ms)
  return {0, encoded}
end
