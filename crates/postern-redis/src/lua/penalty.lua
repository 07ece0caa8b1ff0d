-- The penalty box (postern_policy::tarpit::PenaltyState) applied atomically to one key.
-- KEYS[1]: the record (14 bytes: version, kind 4, score (u32), updated (u64 ms)).
-- ARGV[1]: caller time (8 bytes) or ''; ARGV[2]: 'p' to add points, 'r' to read;
-- ARGV[3]: points (u32); ARGV[4]: half-life in ms (1 ..= 2^32); ARGV[5]: slack (ms).
-- Returns {now, the record before (or nil), the record written (or nil), ok (1, or 0 for a
-- record that does not decode; nothing is written then)}.
local now = now_ms(ARGV[1])
local old = redis.call('GET', KEYS[1])
if ARGV[2] == 'r' then
  return {enc8(now), old, false, 1}
end
local score = 0
local updated = ZERO
if old then
  if #old ~= 14 or string.byte(old, 1) ~= STATE_VERSION or string.byte(old, 2) ~= 4 then
    return {enc8(now), old, false, 0}
  end
  score = be4(old, 2)
  updated = be8(old, 6)
end
local points = tonumber(ARGV[3])
local hl = tonumber(ARGV[4])

-- floor(v * r / d) for v < 2^32, r < 2^33, d <= 2^34, exactly: r is split in 16-bit halves
-- so that every product stays below 2^53.
local function muldiv(v, r, d)
  local rh, rl = idiv(r, 65536)
  local qa, ra = idiv(v * rh, d)
  local q2 = idiv(ra * 65536 + v * rl, d)
  return qa * 65536 + q2
end

-- tarpit::decay: halve every half-life, linear within one.
local function decay(s, elapsed)
  -- 32 half-lives or more: nothing is left (32 * hl <= 2^37, exact).
  if cmp(elapsed, from_num(32 * hl)) >= 0 then
    return 0
  end
  local e = num(elapsed)
  local halvings, rem = idiv(e, hl)
  if halvings >= 32 then return 0 end
  local v = idiv(s, 2 ^ halvings)
  return v - muldiv(v, rem, hl * 2)
end

-- PenaltyState::penalize: now = max(now, updated), decayed score + points * 1000 (u32,
-- saturating).
local t = umax(now, updated)
local add_pts = math.min(points * 1000, P32 - 1)
local new_score = math.min(decay(score, sub(t, updated)) + add_pts, P32 - 1)
local written = string.char(STATE_VERSION, 4) .. enc4(new_score) .. enc8(t)
-- PenaltyState::fresh_after_ms: updated + bits(score) * half-life.
local bits = 0
local s = new_score
while s > 0 do
  bits = bits + 1
  s = idiv(s, 2)
end
local fresh = add(t, from_num(bits * hl))
put(KEYS[1], written, ttl_until(fresh, now), tonumber(ARGV[5]))
return {enc8(now), old, written, 1}
