-- claim_batch: claim.lua for a batch of events on one Redis node (not a cluster: the keys of
-- many owner keys), applied in order. KEYS: four per event, as claim.lua describes; ARGV: the
-- two history bounds, then CLAIM_ARGS per event. Returns one {replayed, claim JSON, next due
-- ms} per event. One script call instead of one per event: Redis pays the call's own cost once
-- per batch.
local out = {}
for i = 1, #KEYS / 4 do
  local k = 4 * (i - 1)
  out[i] = claim(KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4],
                 claim_args(3 + CLAIM_ARGS * (i - 1)))
end
return out
