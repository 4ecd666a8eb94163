-- outbound: may this message go to the customer? A reply needs the current owner's token; a
-- proactive message is refused while a care case is open, past the contact-frequency limit,
-- or to a customer who asked not to be contacted. Every answer is recorded in the history.
-- KEYS: owner hash, proactive log (sorted set), message decision, history
-- ARGV[1]: {now, message_id, kind, token (or -1), sender, do_not_contact, max_proactive,
--           window_ms, remember_ms, history_max, history_age_ms}
-- Returns {replayed 0/1, decision JSON}

local a = cjson.decode(ARGV[1])
local seen = redis.call('GET', KEYS[3])
if seen then
  return {1, seen}
end
local now = a.now
local h = hgetall(KEYS[1])
local open = h.token and num(h.lease_until) > now
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. string.format('%d', now - a.window_ms))
local sent = redis.call('ZCARD', KEYS[2])
local refused = nil
if a.kind == 'reply' then
  if not open then
    refused = 'no_owner'
  elseif num(h.token) ~= a.token then
    refused = 'stale_token'
  end
else
  if a.do_not_contact then
    refused = 'do_not_contact'
  elseif open then
    refused = 'care_case_open'
  elseif sent >= a.max_proactive then
    refused = 'rate_limited'
  else
    redis.call('ZADD', KEYS[2], now, a.message_id)
    redis.call('PEXPIRE', KEYS[2], a.window_ms)
    sent = sent + 1
  end
end
local d = {allowed = (refused == nil), proactive_in_window = sent}
if refused then d.refused = refused end
history(KEYS[4], a, {type = refused and 'refused' or 'outbound', department = h.department or '',
                     queue = h.queue or '', token = math.max(a.token, 0), id = a.message_id,
                     note = a.kind .. ' from ' .. a.sender .. (refused and (': ' .. refused) or '')})
local encoded = cjson.encode(d)
redis.call('SET', KEYS[3], encoded, 'PX', a.remember_ms)
return {0, encoded}
