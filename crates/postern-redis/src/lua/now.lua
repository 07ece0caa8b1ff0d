-- Fragment: now in ms as now_hi, now_lo (32-bit halves) and now_reply (an integer when below
-- 2^53, else the 8 bytes): the caller's time ARGV[1] (replays, tests) when not '', else the
-- server's TIME, so that hosts with skewed clocks agree.
local now_hi, now_lo
local now_reply = ARGV[1]
if now_reply ~= '' then
  local b1, b2, b3, b4, b5, b6, b7, b8 = sbyte(now_reply, 1, 8)
  now_hi = ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  now_lo = ((b5 * 256 + b6) * 256 + b7) * 256 + b8
  if now_hi < 2097152 then now_reply = now_hi * P32 + now_lo end
else
  local t = redis.call('TIME')
  now_reply = tonumber(t[1]) * 1000 + floor(tonumber(t[2]) / 1000)
  now_hi = floor(now_reply / P32)
  now_lo = now_reply - now_hi * P32
end
-- The instant in ns, now * 10^6, saturating.
local i_lo = now_lo * 1000000
local i_hi = floor(i_lo / P32)
i_lo = i_lo - i_hi * P32
i_hi = now_hi * 1000000 + i_hi
if i_hi >= P32 then i_hi, i_lo = P32 - 1, P32 - 1 end
