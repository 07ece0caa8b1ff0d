-- postern-redis: shared helpers of every script (prepended by the Rust side).
--
-- Redis runs Lua 5.1, whose numbers are doubles: integers are exact below 2^53 only. State
-- records hold u64 values (nanosecond TATs, millisecond times up to u64::MAX), so a u64 is
-- kept here as {hi, lo}, two 32-bit halves, each exact. Every division goes through idiv,
-- which corrects the rounding of the double quotient, so all arithmetic below is exact.
local floor = math.floor
local sbyte = string.byte
local schar = string.char
local P32 = 4294967296
local ZERO = {0, 0}
local MAX = {P32 - 1, P32 - 1}
-- Longest PEXPIRE the scripts set (2^45 ms, about 1115 years): a record kept longer than
-- needed only costs memory, and larger values overflow Redis's expiry arithmetic.
local MAX_TTL = 35184372088832

-- Exact floor division of integers x >= 0, d >= 1 with x < 2^53: quotient, remainder.
local function idiv(x, d)
  local q = floor(x / d)
  local r = x - q * d
  if r < 0 then
    q = q - 1
    r = r + d
  elseif r >= d then
    q = q + 1
    r = r - d
  end
  return q, r
end

-- Big-endian u64 at byte offset off (0-based) of s.
local function be8(s, off)
  local b1, b2, b3, b4, b5, b6, b7, b8 = sbyte(s, off + 1, off + 8)
  return {((b1 * 256 + b2) * 256 + b3) * 256 + b4, ((b5 * 256 + b6) * 256 + b7) * 256 + b8}
end

-- Big-endian u32 at byte offset off of s, as a number.
local function be4(s, off)
  local b1, b2, b3, b4 = sbyte(s, off + 1, off + 4)
  return ((b1 * 256 + b2) * 256 + b3) * 256 + b4
end

-- A u32 (integer 0 <= n < 2^32) as 4 big-endian bytes.
local function enc4(n)
  local q1, b4 = idiv(n, 256)
  local q2, b3 = idiv(q1, 256)
  local b1, b2 = idiv(q2, 256)
  return schar(b1, b2, b3, b4)
end

local function enc8(a)
  return enc4(a[1]) .. enc4(a[2])
end

local function cmp(a, b)
  if a[1] ~= b[1] then
    if a[1] < b[1] then return -1 end
    return 1
  end
  if a[2] ~= b[2] then
    if a[2] < b[2] then return -1 end
    return 1
  end
  return 0
end

local function umax(a, b)
  if cmp(a, b) >= 0 then return a end
  return b
end

-- Saturating a + b.
local function add(a, b)
  local lo = a[2] + b[2]
  local hi = a[1] + b[1]
  if lo >= P32 then
    lo = lo - P32
    hi = hi + 1
  end
  if hi >= P32 then return MAX end
  return {hi, lo}
end

-- Saturating a - b (0 when b > a).
local function sub(a, b)
  if cmp(a, b) <= 0 then return ZERO end
  local lo = a[2] - b[2]
  local hi = a[1] - b[1]
  if lo < 0 then
    lo = lo + P32
    hi = hi - 1
  end
  return {hi, lo}
end

-- Saturating a * m for an integer m < 2^21.
local function mul_small(a, m)
  local carry, lo = idiv(a[2] * m, P32)
  local hi = a[1] * m + carry
  if hi >= P32 then return MAX end
  return {hi, lo}
end

-- a / d for an integer 1 <= d < 2^21: quotient (u64) and remainder (number).
local function divmod_small(a, d)
  local qh, r = idiv(a[1], d)
  local ql, r2 = idiv(r * P32 + a[2], d)
  return {qh, ql}, r2
end

-- The u64 as a number; exact below 2^53 (callers check).
local function num(a)
  return a[1] * P32 + a[2]
end

-- A u64 from an integer 0 <= n < 2^53.
local function from_num(n)
  local hi, lo = idiv(n, P32)
  return {hi, lo}
end

-- Whether a < 2^53.
local function exact(a)
  return a[1] < 2097152
end

-- Milliseconds until `fresh` (0 when it is not after `now`), capped at MAX_TTL.
local function ttl_until(fresh, now)
  local d = sub(fresh, now)
  if d[1] >= 8192 then return MAX_TTL end
  return num(d)
end

-- Store `record` under `key` until `ttl` ms from now plus the slack (see the Rust side),
-- or delete the key when the record already equals fresh state.
local function put(key, record, ttl, slack)
  if ttl <= 0 then
    redis.call('DEL', key)
  else
    redis.call('SET', key, record, 'PX', math.min(ttl + slack, MAX_TTL))
  end
end

-- Now in ms: the caller's time (8 bytes) in replays and tests, else the server's TIME, so
-- that hosts with skewed clocks agree.
local function now_ms(arg)
  if arg ~= '' then return be8(arg, 0) end
  local t = redis.call('TIME')
  local usec_ms = idiv(tonumber(t[2]), 1000)
  return from_num(tonumber(t[1]) * 1000 + usec_ms)
end
