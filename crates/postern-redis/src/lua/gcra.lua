-- GCRA (postern_policy::gcra::step) applied atomically to one key. The fragment markers
-- (see scripts.rs) are replaced by their code: a helper function would be a closure made on
-- every run.
-- KEYS[1]: the record (10 bytes: version, kind 1, TAT in ns, big-endian).
-- ARGV[1]: caller time (8 bytes, ms) or '' for the server's TIME
-- ARGV[2]: c*T, the increment in ns (8 bytes; the caller already refused c*T > tau)
-- ARGV[3]: tau = burst*T in ns (8 bytes)
-- ARGV[4]: mode: 'l' leaky, 's' strict, 'r' read-only
-- ARGV[5]: slack added to the expiry (ms)
-- Returns {now, the record before (or nil), allowed (0/1), the record written (or nil)}, now
-- in ms as an integer when below 2^53, else as 8 big-endian bytes; a record that does not
-- decode is returned untouched with allowed = -1, for the Rust side to report.
--@now
local old = redis.call('GET', KEYS[1])
local inc_s, tau_s = ARGV[2], ARGV[3]
--@step
if bad then return {now_reply, old, -1, false} end
local mode = ARGV[4]
if mode ~= 'r' and (allowed or mode == 's') then
  local key, slack = KEYS[1], tonumber(ARGV[5])
  --@store
  return {now_reply, old, allowed and 1 or 0, written}
end
return {now_reply, old, allowed and 1 or 0, false}
