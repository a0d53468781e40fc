-- Switchyard rate limits: one atomic call for every bucket of a request (see gcra.rs).
--
-- KEYS[i]    bucket i, a hash {l = level in units, t = Redis server time of l in µs}
-- ARGV[1]    "take": charge every bucket its cost only if every bucket admits it;
--            "adjust": add each (signed) cost with no check, levels floored at 0
-- ARGV[3i-1] cost of bucket i (units), ARGV[3i] rate (units per µs), ARGV[3i+1] burst
--
-- Returns one string: admitted ("1" or "0"), then each bucket's level before the call,
-- space-separated (full precision; Redis would truncate Lua numbers to integers, and one
-- string is cheaper to parse than an array of them).
--
-- Time is the server's TIME, never a replica's clock; a key expires once it has drained,
-- so idle keys cost no memory.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local take = ARGV[1] == 'take'
local n = #KEYS
local before = {}
local admitted = 1
for i = 1, n do
  local rate = tonumber(ARGV[3 * i])
  local burst = tonumber(ARGV[3 * i + 1])
  local cost = tonumber(ARGV[3 * i - 1])
  local level = 0
  local state = redis.call('HMGET', KEYS[i], 'l', 't')
  if state[1] and state[2] then
    local elapsed = now - tonumber(state[2])
    if elapsed < 0 then elapsed = 0 end
    level = tonumber(state[1]) - elapsed * rate
    if level < 0 then level = 0 end
  end
  before[i] = level
  if take and level + cost > burst + 1e-9 * math.max(burst, 1) then
    admitted = 0
  end
end
local out = {tostring(admitted)}
for i = 1, n do
  if admitted == 1 then
    local rate = tonumber(ARGV[3 * i])
    local after = before[i] + tonumber(ARGV[3 * i - 1])
    if after <= 0 then
      redis.call('DEL', KEYS[i])
    else
      redis.call('HSET', KEYS[i], 'l', string.format('%.17g', after), 't', string.format('%.17g', now))
      local ttl_ms = math.min(math.ceil(after / rate / 1000), 1e13) + 1000
      redis.call('PEXPIRE', KEYS[i], string.format('%d', ttl_ms))
    end
  end
  out[i + 1] = string.format('%.17g', before[i])
end
return table.concat(out, ' ')
