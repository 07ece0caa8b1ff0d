-- Greylisting (postern_policy::greylist::step, plus the client auto-allow records of
-- postern_policy::greylist::Greylist) applied atomically.
-- KEYS[1]: the key's record, KEYS[2]: the client's record (22 bytes each: version, kind 2,
--   first seen, last pass (u64 ms), passes (u32), big-endian).
-- ARGV[1]: caller time (8 bytes) or ''; ARGV[2]: delay, ARGV[3]: retry window,
-- ARGV[4]: pass TTL (8 bytes each, ms); ARGV[5]: auto-allow after this many passes (0: off);
-- ARGV[6]: slack (ms); ARGV[7]: '1' to decide without writing anything (a peek), else ''.
-- Returns {now, code, retry_after (8 bytes or nil), key record before, key record written (or,
-- in a peek, the one that would be)}
-- with code 'F' first pass, 'K' known, 'C' client allowed, 'D' deferred, 'E' a record that
-- does not decode (nothing written).
local now = now_ms(ARGV[1])
local delay = be8(ARGV[2], 0)
local window = be8(ARGV[3], 0)
local pass_ttl = be8(ARGV[4], 0)
local auto = tonumber(ARGV[5])
local slack = tonumber(ARGV[6])
local peek = ARGV[7] == '1'
local ONE = {0, 1}

local function decode(rec)
  if #rec ~= 22 or string.byte(rec, 1) ~= STATE_VERSION or string.byte(rec, 2) ~= 2 then
    return nil
  end
  return {first = be8(rec, 2), last = be8(rec, 10), passes = be4(rec, 18)}
end

local function encode(s)
  return string.char(STATE_VERSION, 2) .. enc8(s.first) .. enc8(s.last) .. enc4(s.passes)
end

-- When the state equals a first sighting (GreylistState::fresh_after_ms).
local function fresh_after(s)
  if s.passes == 0 then
    return add(add(s.first, window), ONE)
  end
  return add(add(s.last, pass_ttl), ONE)
end

local client_rec = false
local client = nil
if auto > 0 then
  client_rec = redis.call('GET', KEYS[2])
  if client_rec then
    client = decode(client_rec)
    if not client then
      return {enc8(now), 'E', false, client_rec, false}
    end
  end
end

-- A client pass (Greylist::note_client_pass): a record past its expiry starts over.
local function note_client_pass()
  if auto == 0 or peek then return end
  local c = client
  if not c or cmp(add(add(c.last, pass_ttl), ONE), now) <= 0 then
    c = {first = ZERO, last = ZERO, passes = 0}
  end
  local passes = c.passes + 1
  if passes > P32 - 1 then passes = P32 - 1 end
  local n = {first = c.first, last = now, passes = passes}
  put(KEYS[2], encode(n), ttl_until(add(add(now, pass_ttl), ONE), now), slack)
end

-- Greylist::client_allowed
if client and client.passes >= auto and cmp(sub(now, client.last), pass_ttl) <= 0 then
  note_client_pass()
  return {enc8(now), 'C', false, false, false}
end

local old = redis.call('GET', KEYS[1])
local s = nil
if old then
  s = decode(old)
  if not s then
    return {enc8(now), 'E', false, old, false}
  end
  -- A stored record past its life is a first sighting.
  if cmp(now, fresh_after(s)) >= 0 then s = nil end
end

local code
local retry = false
local next_s
if s and s.passes > 0 then
  if cmp(sub(now, s.last), pass_ttl) <= 0 then
    local passes = s.passes + 1
    if passes > P32 - 1 then passes = P32 - 1 end
    next_s = {first = s.first, last = umax(now, s.last), passes = passes}
    code = 'K'
  end
elseif s then
  local elapsed = sub(now, s.first)
  if cmp(elapsed, delay) < 0 then
    code = 'D'
    retry = enc8(sub(delay, elapsed))
    next_s = s
  elseif cmp(elapsed, window) <= 0 then
    next_s = {first = s.first, last = now, passes = 1}
    code = 'F'
  end
end
if not code then
  -- A first sighting.
  code = 'D'
  retry = enc8(delay)
  next_s = {first = now, last = ZERO, passes = 0}
end
local written = encode(next_s)
if not peek then
  put(KEYS[1], written, ttl_until(fresh_after(next_s), now), slack)
end
if code == 'F' or code == 'K' then
  note_client_pass()
end
return {enc8(now), code, retry, old, written}
