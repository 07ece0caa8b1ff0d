-- Concurrency leases (postern_policy::concurrency::Concurrency) applied atomically.
-- KEYS[1]: sorted set of the normal leases, KEYS[2]: of the reserved leases, KEYS[3]: of the
-- subject's leases (members: lease ids; scores: expiry in ms, below 2^53), KEYS[4]: the
-- lease id counter.
-- ARGV[1]: caller time (8 bytes) or ''; ARGV[2]: 'a' acquire, 'n' renew, 'x' release;
-- ARGV[3]: class 'n' normal or 'r' reserved; ARGV[4]: lease TTL in ms (capped below 2^45 by
-- the caller); ARGV[5]: total; ARGV[6]: per subject (0: none); ARGV[7]: reserved;
-- ARGV[8]: lease id (renew, release); ARGV[9]: slack (ms).
-- Returns {now, code, id}: code 'A' acquired (id), 'T' total refused, 'S' per subject
-- refused, 1 / 0 for renew and release (held or not).
local now = now_ms(ARGV[1])
local op = ARGV[2]
local class = ARGV[3]
local ttl = tonumber(ARGV[4])
local slack = tonumber(ARGV[9])
local mine = KEYS[1]
if class == 'r' then mine = KEYS[2] end

if op == 'x' then
  local held = redis.call('ZREM', mine, ARGV[8])
  redis.call('ZREM', KEYS[3], ARGV[8])
  return {enc8(now), held, false}
end

-- Times here are below 2^53 ms (about 285,000 years from 1970).
if not exact(now) then
  return redis.error_reply('postern: time beyond 2^53 ms')
end
local n = num(now)
-- A lease expires at its score: free everything expired by now (Concurrency::sweep).
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', n)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', n)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', n)

-- Let a set expire with its last lease (plus the slack).
local function refresh(key)
  local top = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if top[2] then
    redis.call('PEXPIRE', key, math.min(tonumber(top[2]) - n + slack, MAX_TTL))
  end
end

local expires = n + ttl
if op == 'n' then
  if not redis.call('ZSCORE', mine, ARGV[8]) then
    return {enc8(now), 0, false}
  end
  redis.call('ZADD', mine, 'XX', expires, ARGV[8])
  redis.call('ZADD', KEYS[3], 'XX', expires, ARGV[8])
  refresh(mine)
  refresh(KEYS[3])
  return {enc8(now), 1, false}
end

local total = tonumber(ARGV[5])
local per = tonumber(ARGV[6])
local reserved = tonumber(ARGV[7])
local normal = redis.call('ZCARD', KEYS[1])
local res = redis.call('ZCARD', KEYS[2])
local used
local limit
if class == 'r' then
  used = normal + res
  limit = total
else
  -- Reserved sessions overflowing into the shared slots count against normal ones.
  used = normal + math.max(res - reserved, 0)
  limit = total - reserved
end
if used >= limit then
  return {enc8(now), 'T', false}
end
if class == 'n' and per > 0 and redis.call('ZCARD', KEYS[3]) >= per then
  return {enc8(now), 'S', false}
end
local id = redis.call('INCR', KEYS[4])
redis.call('ZADD', mine, expires, id)
redis.call('ZADD', KEYS[3], expires, id)
refresh(mine)
refresh(KEYS[3])
return {enc8(now), 'A', id}
