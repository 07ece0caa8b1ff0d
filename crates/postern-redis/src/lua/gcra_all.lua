-- Several GCRA limits of one event, atomically: all are checked, then all are charged or
-- none (a strict limit that refuses records its own attempt), as postern policy simulate
-- combines its limiters. Fragments as in gcra.lua.
-- KEYS[1..n]: the records (see gcra.lua), distinct.
-- ARGV[1]: caller time (8 bytes) or ''; ARGV[2]: slack (ms); ARGV[3]: '1' when the event is
-- refused anyway (a cost above some limit's burst, decided by the caller), else '0';
-- then per key i, ARGV[4 + 3(i-1)] .. ARGV[6 + 3(i-1)]: increment c*T (8 bytes), tau
-- (8 bytes), mode ('l', 's', 'r').
-- Returns {now, records before (nil for missing), allowed flags (0/1), records written (nil
-- when unchanged)}, now as in gcra.lua; a record that does not decode gives {now, i, that
-- record} and no writes.
--@now
local slack = tonumber(ARGV[2])
local refused = ARGV[3] == '1'
local olds, his, los, flags = {}, {}, {}, {}
for i = 1, #KEYS do
  local old = redis.call('GET', KEYS[i])
  local inc_s, tau_s = ARGV[4 + 3 * (i - 1)], ARGV[5 + 3 * (i - 1)]
  --@step
  if bad then return {now_reply, i, old} end
  if not allowed then refused = true end
  olds[i] = old
  his[i] = hi
  los[i] = lo
  flags[i] = allowed and 1 or 0
end
local records = {}
for i = 1, #KEYS do
  local mode = ARGV[6 + 3 * (i - 1)]
  records[i] = false
  if mode ~= 'r' and (not refused or (mode == 's' and flags[i] == 0)) then
    local key, hi, lo = KEYS[i], his[i], los[i]
    --@store
    records[i] = written
  end
end
return {now_reply, olds, flags, records}
