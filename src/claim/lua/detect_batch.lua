-- detect_batch: detect.lua for a batch of (event, detector key) pairs on one Redis node (not a
-- cluster), applied in order. KEYS: eight per pair, as detect.lua describes; ARGV: one
-- argument object per pair. Returns one {replayed, decision JSON} per pair.
local out = {}
for i = 1, #ARGV do
  local k = 8 * (i - 1)
  local keys = {}
  for j = 1, 8 do keys[j] = KEYS[k + j] end
  out[i] = detect(keys, cjson.decode(ARGV[i]))
end
return out
