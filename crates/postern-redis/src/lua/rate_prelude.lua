-- postern-redis: the shared locals of the GCRA scripts (prepended by the Rust side instead of
-- prelude.lua). These scripts run on every decision, so they create no tables and as few
-- closures as they can: a u64 travels as two numbers (hi, lo), each a 32-bit half, exact in
-- Lua's doubles. Products and quotients by powers of two are exact in floating point; a
-- division by 10^6 is corrected to the exact floor.
local floor = math.floor
local sbyte = string.byte
local schar = string.char
local P32 = 4294967296
local MAX_TTL = 35184372088832
