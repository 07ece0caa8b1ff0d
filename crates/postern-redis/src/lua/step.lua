-- Fragment: one GCRA step (postern_policy::gcra::step). In: old (the record or nil/false),
-- inc_s and tau_s (c*T and tau in ns, 8 bytes each), i_hi, i_lo (the instant). Out: bad
-- (the record does not decode), hi, lo (the new TAT, saturating max(TAT, instant) + c*T)
-- and allowed (new TAT - instant <= tau).
local bad, hi, lo, allowed = false, i_hi, i_lo, false
if old then
  if #old ~= 10 or sbyte(old, 1) ~= STATE_VERSION or sbyte(old, 2) ~= 1 then
    bad = true
  else
    local b1, b2, b3, b4, b5, b6, b7, b8 = sbyte(old, 3, 10)
    local t_hi = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
    local t_lo = ((b5 * 256 + b6) * 256 + b7) * 256 + b8
    if t_hi > hi or (t_hi == hi and t_lo > lo) then hi, lo = t_hi, t_lo end
  end
end
if not bad then
  local b1, b2, b3, b4, b5, b6, b7, b8 = sbyte(inc_s, 1, 8)
  hi = hi + ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  lo = lo + ((b5 * 256 + b6) * 256 + b7) * 256 + b8
  if lo >= P32 then
    lo = lo - P32
    hi = hi + 1
  end
  if hi >= P32 then hi, lo = P32 - 1, P32 - 1 end
  -- used = new TAT - instant (new TAT >= instant here)
  local u_hi, u_lo = hi - i_hi, lo - i_lo
  if u_lo < 0 then
    u_lo = u_lo + P32
    u_hi = u_hi - 1
  end
  b1, b2, b3, b4, b5, b6, b7, b8 = sbyte(tau_s, 1, 8)
  local tau_hi = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  allowed = u_hi < tau_hi
    or (u_hi == tau_hi and u_lo <= ((b5 * 256 + b6) * 256 + b7) * 256 + b8)
end
