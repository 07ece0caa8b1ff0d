-- GCRA (postern_policy::gcra::step) applied atomically to one key, inline (no helper
-- functions: each would be a closure made on every run).
-- KEYS[1]: the record (10 bytes: version, kind 1, TAT in ns, big-endian).
-- ARGV[1]: caller time (8 bytes, ms) or '' for the server's TIME
-- ARGV[2]: c*T, the increment in ns (8 bytes; the caller already refused c*T > tau)
-- ARGV[3]: tau = burst*T in ns (8 bytes)
-- ARGV[4]: mode: 'l' leaky, 's' strict, 'r' read-only
-- ARGV[5]: slack added to the expiry (ms)
-- Returns {now, the record before (or nil), allowed (0/1), the record written (or nil)}, now
-- in ms as an integer when below 2^53, else as 8 big-endian bytes; a record that does not
-- decode is returned untouched with allowed = -1, for the Rust side to report.
local b1, b2, b3, b4, b5, b6, b7, b8
-- now, in ms: the caller's (replays, tests) or the server's TIME, so that hosts with skewed
-- clocks agree.
local now_hi, now_lo
local now_reply = ARGV[1]
if now_reply ~= '' then
  b1, b2, b3, b4, b5, b6, b7, b8 = sbyte(now_reply, 1, 8)
  now_hi = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  now_lo = ((b5 * 256 + b6) * 256 + b7) * 256 + b8
  if now_hi < 2097152 then now_reply = now_hi * P32 + now_lo end
else
  local t = redis.call('TIME')
  now_reply = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
  now_hi = floor(now_reply / P32)
  now_lo = now_reply - now_hi * P32
end
local old = redis.call('GET', KEYS[1])
local t_hi, t_lo = 0, 0
if old then
  if #old ~= 10 or sbyte(old, 1) ~= STATE_VERSION or sbyte(old, 2) ~= 1 then
    return {now_reply, old, -1, false}
  end
  b1, b2, b3, b4, b5, b6, b7, b8 = sbyte(old, 3, 10)
  t_hi = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  t_lo = ((b5 * 256 + b6) * 256 + b7) * 256 + b8
end
-- The instant in ns, now * 10^6, saturating.
local i_lo = now_lo * 1000000
local carry = floor(i_lo / P32)
local i_hi = now_hi * 1000000 + carry
i_lo = i_lo - carry * P32
if i_hi >= P32 then i_hi, i_lo = P32 - 1, P32 - 1 end
-- new TAT = max(TAT, instant) + c*T, saturating
if i_hi > t_hi or (i_hi == t_hi and i_lo > t_lo) then t_hi, t_lo = i_hi, i_lo end
b1, b2, b3, b4, b5, b6, b7, b8 = sbyte(ARGV[2], 1, 8)
local hi = t_hi + ((b1 * 256 + b2) * 256 + b3) * 256 + b4
local lo = t_lo + ((b5 * 256 + b6) * 256 + b7) * 256 + b8
if lo >= P32 then
  lo = lo - P32
  hi = hi + 1
end
if hi >= P32 then hi, lo = P32 - 1, P32 - 1 end
-- allowed iff new TAT - instant <= tau (new TAT >= instant here)
local u_hi, u_lo = hi - i_hi, lo - i_lo
if u_lo < 0 then
  u_lo = u_lo + P32
  u_hi = u_hi - 1
end
b1, b2, b3, b4, b5, b6, b7, b8 = sbyte(ARGV[3], 1, 8)
local tau_hi = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
local allowed = u_hi < tau_hi
  or (u_hi == tau_hi and u_lo <= ((b5 * 256 + b6) * 256 + b7) * 256 + b8)
local written = false
local mode = ARGV[4]
if mode ~= 'r' and (allowed or mode == 's') then
  written = schar(STATE_VERSION, 1,
    floor(hi / 16777216), floor(hi / 65536) % 256, floor(hi / 256) % 256, hi % 256,
    floor(lo / 16777216), floor(lo / 65536) % 256, floor(lo / 256) % 256, lo % 256)
  -- The record equals fresh state from ceil(TAT / 1 ms): q = ceil((hi * 2^32 + lo) / 10^6),
  -- by two exact divisions (each quotient corrected to the floor).
  local qh = floor(hi / 1000000)
  local r = hi - qh * 1000000
  if r < 0 then qh, r = qh - 1, r + 1000000 elseif r >= 1000000 then qh, r = qh + 1, r - 1000000 end
  local x = r * P32 + lo
  local ql = floor(x / 1000000)
  r = x - ql * 1000000
  if r < 0 then ql, r = ql - 1, r + 1000000 elseif r >= 1000000 then ql, r = ql + 1, r - 1000000 end
  if r > 0 then
    ql = ql + 1
    if ql >= P32 then ql, qh = 0, qh + 1 end
  end
  -- ttl = q - now in ms, 0 when not after now, capped at MAX_TTL
  local d_hi, d_lo = qh - now_hi, ql - now_lo
  if d_lo < 0 then d_lo, d_hi = d_lo + P32, d_hi - 1 end
  local ttl = 0
  if d_hi >= 8192 then
    ttl = MAX_TTL
  elseif d_hi >= 0 then
    ttl = d_hi * P32 + d_lo
  end
  if ttl <= 0 then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], written, 'PX', math.min(ttl + tonumber(ARGV[5]), MAX_TTL))
  end
end
if allowed then return {now_reply, old, 1, written} end
return {now_reply, old, 0, written}
