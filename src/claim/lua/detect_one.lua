-- detect_one: detect.lua for one event and detector key. KEYS and ARGV[1] as detect.lua says.
return detect(KEYS, cjson.decode(ARGV[1]))
