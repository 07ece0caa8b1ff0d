-- Fragment: write the record of TAT hi, lo under key until it equals fresh state,
-- ceil(TAT / 1 ms), plus slack ms (see the Rust side), or delete the key when it already
-- does. Out: written (the record).
local written = schar(STATE_VERSION, 1,
  floor(hi / 16777216), floor(hi / 65536) % 256, floor(hi / 256) % 256, hi % 256,
  floor(lo / 16777216), floor(lo / 65536) % 256, floor(lo / 256) % 256, lo % 256)
do
  -- q = ceil((hi * 2^32 + lo) / 10^6), by two divisions each corrected to the exact floor.
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
    redis.call('DEL', key)
  else
    redis.call('SET', key, written, 'PX', math.min(ttl + slack, MAX_TTL))
  end
end
