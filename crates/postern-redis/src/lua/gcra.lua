-- GCRA (postern_policy::gcra::step) applied atomically to one key.
-- KEYS[1]: the record (10 bytes: version, kind 1, TAT in ns, big-endian).
-- ARGV[1]: caller time (8 bytes, ms) or '' for the server's TIME
-- ARGV[2]: c*T, the increment in ns (8 bytes; the caller already refused c*T > tau)
-- ARGV[3]: tau = burst*T in ns (8 bytes)
-- ARGV[4]: mode: 'l' leaky, 's' strict, 'r' read-only
-- ARGV[5]: slack added to the expiry (ms)
-- Returns {now (8 bytes), the record before (or nil), allowed (0/1), the record written
-- (or nil)}; a record that does not decode is returned untouched with allowed = -1, for the
-- Rust side to report.
local now = now_ms(ARGV[1])
local old = redis.call('GET', KEYS[1])
local tat = ZERO
if old then
  if #old ~= 10 or string.byte(old, 1) ~= STATE_VERSION or string.byte(old, 2) ~= 1 then
    return {enc8(now), old, -1, false}
  end
  tat = be8(old, 2)
end
local inc = be8(ARGV[2], 0)
local tau = be8(ARGV[3], 0)
local mode = ARGV[4]
local instant = mul_small(now, 1000000)
-- max(TAT, now) + c*T - now <= tau
local new_tat = add(umax(tat, instant), inc)
local used = sub(new_tat, instant)
local allowed = cmp(used, tau) <= 0
local written = false
if mode ~= 'r' and (allowed or mode == 's') then
  written = string.char(STATE_VERSION, 1) .. enc8(new_tat)
  -- The record equals fresh state from ceil(TAT / 1 ms).
  local q, r = divmod_small(new_tat, 1000000)
  if r > 0 then q = add(q, {0, 1}) end
  put(KEYS[1], written, ttl_until(q, now), tonumber(ARGV[5]))
end
local a = 0
if allowed then a = 1 end
return {enc8(now), old, a, written}
