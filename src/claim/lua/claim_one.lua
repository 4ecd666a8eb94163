-- claim_one: claim.lua for one event. KEYS and ARGV as claim.lua describes.
return claim(KEYS[1], KEYS[2], KEYS[3], KEYS[4], claim_args(3))
