-- Several GCRA limits of one event, atomically: all are checked, then all are charged or
-- none (a strict limit that refuses records its own attempt), as postern policy simulate
-- combines its limiters.
-- KEYS[1..n]: the records (see gcra.lua), distinct.
-- ARGV[1]: caller time (8 bytes) or ''; ARGV[2]: slack (ms); ARGV[3]: '1' when the event is
-- refused anyway (a cost above some limit's burst, decided by the caller), else '0';
-- then per key i, ARGV[4 + 3(i-1)] .. ARGV[6 + 3(i-1)]: increment c*T (8 bytes), tau
-- (8 bytes), mode ('l', 's', 'r').
-- Returns {now (8 bytes), records before (nil for missing), allowed flags (0/1), records
-- written (nil when unchanged)}; a record that does not decode gives {now, i, that record}
-- and no writes.
-- Exact floor division of integers x >= 0, d >= 1 with x < 2^53: quotient, remainder.
local function idiv(x, d)
  local q = floor(x / d)
  local r = x - q * d
  if r < 0 then
    return q - 1, r + d
  elseif r >= d then
    return q + 1, r - d
  end
  return q, r
end

-- Big-endian u64 at byte offset off (0-based) of s, as hi, lo.
local function be8(s, off)
  local b1, b2, b3, b4, b5, b6, b7, b8 = sbyte(s, off + 1, off + 8)
  return ((b1 * 256 + b2) * 256 + b3) * 256 + b4, ((b5 * 256 + b6) * 256 + b7) * 256 + b8
end

-- The u64 hi, lo as 8 big-endian bytes.
local function enc8(hi, lo)
  local h1 = floor(hi / 16777216)
  local h2 = floor(hi / 65536) % 256
  local h3 = floor(hi / 256) % 256
  local l1 = floor(lo / 16777216)
  local l2 = floor(lo / 65536) % 256
  local l3 = floor(lo / 256) % 256
  return schar(h1, h2, h3, hi % 256, l1, l2, l3, lo % 256)
end

-- Now in ms as hi, lo: the caller's time (8 bytes) in replays and tests, else the server's
-- TIME, so that hosts with skewed clocks agree.
local function now_ms(arg)
  if arg ~= '' then return be8(arg, 0) end
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
  local hi = floor(ms / P32)
  return hi, ms - hi * P32
end

-- Saturating now_ms * 10^6 (the instant in ns).
local function ns_of_ms(hi, lo)
  local p = lo * 1000000
  local carry = floor(p / P32)
  hi = hi * 1000000 + carry
  if hi >= P32 then return P32 - 1, P32 - 1 end
  return hi, p - carry * P32
end

-- GCRA on one record: the new TAT (saturating max(tat, instant) + inc) and whether
-- new TAT - instant <= tau.
local function gcra(t_hi, t_lo, i_hi, i_lo, inc_hi, inc_lo, tau_hi, tau_lo)
  if i_hi > t_hi or (i_hi == t_hi and i_lo > t_lo) then
    t_hi, t_lo = i_hi, i_lo
  end
  local lo = t_lo + inc_lo
  local hi = t_hi + inc_hi
  if lo >= P32 then
    lo = lo - P32
    hi = hi + 1
  end
  if hi >= P32 then hi, lo = P32 - 1, P32 - 1 end
  -- used = new - instant (new >= instant here)
  local u_hi, u_lo = hi - i_hi, lo - i_lo
  if u_lo < 0 then
    u_lo = u_lo + P32
    u_hi = u_hi - 1
  end
  return hi, lo, u_hi < tau_hi or (u_hi == tau_hi and u_lo <= tau_lo)
end

-- Store `record` under `key` until the record equals fresh state, ceil(TAT / 1 ms), plus
-- the slack (see the Rust side), or delete the key when it already does.
local function put_tat(key, record, hi, lo, now_hi, now_lo, slack)
  local qh, r = idiv(hi, 1000000)
  local ql, r2 = idiv(r * P32 + lo, 1000000)
  if r2 > 0 then
    ql = ql + 1
    if ql >= P32 then
      ql = 0
      qh = qh + 1
    end
  end
  -- ttl = fresh - now, saturating at 0; capped at MAX_TTL
  local d_hi, d_lo = qh - now_hi, ql - now_lo
  if d_lo < 0 then
    d_lo = d_lo + P32
    d_hi = d_hi - 1
  end
  local ttl
  if d_hi < 0 then
    ttl = 0
  elseif d_hi >= 8192 then
    ttl = MAX_TTL
  else
    ttl = d_hi * P32 + d_lo
  end
  if ttl <= 0 then
    redis.call('DEL', key)
  else
    redis.call('SET', key, record, 'PX', math.min(ttl + slack, MAX_TTL))
  end
end

local now_hi, now_lo = now_ms(ARGV[1])
local slack = tonumber(ARGV[2])
local refused = ARGV[3] == '1'
local i_hi, i_lo = ns_of_ms(now_hi, now_lo)
local olds, his, los, allowed = {}, {}, {}, {}
for i = 1, #KEYS do
  local old = redis.call('GET', KEYS[i])
  local t_hi, t_lo = 0, 0
  if old then
    if #old ~= 10 or sbyte(old, 1) ~= STATE_VERSION or sbyte(old, 2) ~= 1 then
      return {enc8(now_hi, now_lo), i, old}
    end
    t_hi, t_lo = be8(old, 2)
  end
  local a = 3 * (i - 1)
  local inc_hi, inc_lo = be8(ARGV[4 + a], 0)
  local tau_hi, tau_lo = be8(ARGV[5 + a], 0)
  local hi, lo, ok = gcra(t_hi, t_lo, i_hi, i_lo, inc_hi, inc_lo, tau_hi, tau_lo)
  if not ok then refused = true end
  olds[i] = old
  his[i] = hi
  los[i] = lo
  allowed[i] = ok and 1 or 0
end
local written = {}
for i = 1, #KEYS do
  local mode = ARGV[6 + 3 * (i - 1)]
  local rec = false
  if mode ~= 'r' and (not refused or (mode == 's' and allowed[i] == 0)) then
    rec = schar(STATE_VERSION, 1) .. enc8(his[i], los[i])
    put_tat(KEYS[i], rec, his[i], los[i], now_hi, now_lo, slack)
  end
  written[i] = rec
end
return {enc8(now_hi, now_lo), olds, allowed, written}
