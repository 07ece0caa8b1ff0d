-- Several GCRA limits of one event, atomically: all are checked, then all are charged or
-- none (a strict limit that refuses records its own attempt), as postern policy simulate
-- combines its limiters.
-- KEYS[1..n]: the records (see gcra.lua), distinct.
-- ARGV[1]: caller time (8 bytes) or ''; ARGV[2]: slack (ms); ARGV[3]: '1' when the event is
-- refused anyway (a cost above some limit's burst, decided by the caller), else '0';
-- then per key i, ARGV[4 + 3(i-1)] .. ARGV[6 + 3(i-1)]: increment c*T (8 bytes), tau
-- (8 bytes), mode ('l', 's', 'r').
-- Returns {now, records before (nil for missing), allowed flags (0/1), records written (nil
-- when unchanged)}; a record that does not decode gives {now, i, that record} and no writes.
local now = now_ms(ARGV[1])
local slack = tonumber(ARGV[2])
local refused = ARGV[3] == '1'
local instant = mul_small(now, 1000000)
local olds, news, allowed = {}, {}, {}
for i = 1, #KEYS do
  local old = redis.call('GET', KEYS[i])
  local tat = ZERO
  if old then
    if #old ~= 10 or sbyte(old, 1) ~= STATE_VERSION or sbyte(old, 2) ~= 1 then
      return {enc8(now), i, old}
    end
    tat = be8(old, 2)
  end
  local a = 3 * (i - 1)
  local new_tat = add(umax(tat, instant), be8(ARGV[4 + a], 0))
  local ok = cmp(sub(new_tat, instant), be8(ARGV[5 + a], 0)) <= 0
  if not ok then refused = true end
  olds[i] = old
  news[i] = new_tat
  allowed[i] = ok and 1 or 0
end
local written = {}
for i = 1, #KEYS do
  local mode = ARGV[6 + 3 * (i - 1)]
  local rec = false
  if mode ~= 'r' and (not refused or (mode == 's' and allowed[i] == 0)) then
    rec = schar(STATE_VERSION, 1) .. enc8(news[i])
    local q, r = divmod_small(news[i], 1000000)
    if r > 0 then q = add(q, {0, 1}) end
    put(KEYS[i], rec, ttl_until(q, now), slack)
  end
  written[i] = rec
end
return {enc8(now), olds, allowed, written}
