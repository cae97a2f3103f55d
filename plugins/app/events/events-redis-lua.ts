// The Lua scripts of the Redis event queues (docs/events.md, "Queues in Redis"): each runs
// atomically in Redis, so two processes appending to, acknowledging or dropping one queue
// never interleave. Every script takes the key prefix as ARGV[1].
//
// Keys (P = PARLEY_REDIS_PREFIX):
//   P ev:q:<id>   hash  u (owner id), t (event types, JSON or ''), n (narrow, JSON),
//                       l (lifespan ms), f (id of the list's first event), h (token of the held poll),
//                       k (which events it takes, when Redis can tell alone: FANOUT)
//   P ev:l:<id>   list  the pending events, JSON without their id: event f + i is element i
//   P ev:u:<user> set   the user's queue ids
//   P ev:exp      zset  queue id → the time (ms) it expires unless used
//   P ob:<key>    string  an outbox row's event was appended (APPEND's guard; expires after an hour)
//   P ev:wake     channel  'e' + JSON (an event appended: see APPEND), 'g id id …' (queues gone),
//                          's id token' (a newer GET: answer any other held poll of the queue)

/** Drops one queue everywhere; shared by every script that drops. */
const DROP = `
local function drop(p, q)
  local qk = p .. 'ev:q:' .. q
  local u = redis.call('HGET', qk, 'u')
  if u then redis.call('SREM', p .. 'ev:u:' .. u, q) end
  redis.call('DEL', qk, p .. 'ev:l:' .. q)
  redis.call('ZREM', p .. 'ev:exp', q)
end
local function gone(p, ids)
  if #ids > 0 then redis.call('PUBLISH', p .. 'ev:wake', 'g' .. table.concat(ids, ' ')) end
end
`

/**
 * ARGV: prefix, id, user, types, narrow, lifespan ms, now, queues per user, queues in total, k
 * ('' = none: see FANOUT). A user at the cap loses their least recently used queue without a held poll (else the
 * least recently used). Returns 1, or 0 when the organization is at its total cap.
 */
export const REGISTER = DROP + `
local p, id, u = ARGV[1], ARGV[2], ARGV[3]
local uk = p .. 'ev:u:' .. u
if redis.call('SCARD', uk) >= tonumber(ARGV[8]) then
  local best, bestUsed, idle, idleUsed
  for _, q in ipairs(redis.call('SMEMBERS', uk)) do
    local used = tonumber(redis.call('ZSCORE', p .. 'ev:exp', q) or 0)
    if best == nil or used < bestUsed then best, bestUsed = q, used end
    if redis.call('HEXISTS', p .. 'ev:q:' .. q, 'h') == 0 and (idle == nil or used < idleUsed) then idle, idleUsed = q, used end
  end
  local victim = idle or best
  drop(p, victim)
  gone(p, { victim })
end
if redis.call('ZCARD', p .. 'ev:exp') >= tonumber(ARGV[9]) then return 0 end
redis.call('HSET', p .. 'ev:q:' .. id, 'u', u, 't', ARGV[4], 'n', ARGV[5], 'l', ARGV[6], 'f', 0)
if ARGV[10] ~= '' then redis.call('HSET', p .. 'ev:q:' .. id, 'k', ARGV[10]) end
redis.call('SADD', uk, id)
redis.call('ZADD', p .. 'ev:exp', tonumber(ARGV[7]) + tonumber(ARGV[6]), id)
return 1
`

/**
 * GET /events. ARGV: prefix, id, user, last_event_id ('' = none), now, token, hold (1/0),
 * the extra ms a held poll keeps its queue alive, meta wanted (1/0).
 * Acknowledges, reads what is pending; a poll held elsewhere is told to answer (a newer GET
 * wins); when nothing is pending and the poll will be held, records its token.
 * Returns nil for an unknown or foreign queue, else {first id, events, [t, n, l]}.
 */
export const POLL = `
local p, id = ARGV[1], ARGV[2]
local qk, lk = p .. 'ev:q:' .. id, p .. 'ev:l:' .. id
local m = redis.call('HMGET', qk, 'u', 'f', 'l', 'h', 't', 'n')
if m[1] ~= ARGV[3] then return nil end
local first = tonumber(m[2])
if ARGV[4] ~= '' then
  local n = tonumber(ARGV[4]) - first + 1
  if n > 0 then
    local len = redis.call('LLEN', lk)
    if n > len then n = len end
    if n > 0 then
      redis.call('LTRIM', lk, n, -1)
      first = first + n
      redis.call('HSET', qk, 'f', first)
    end
  end
end
local events = redis.call('LRANGE', lk, 0, -1)
if m[4] then redis.call('PUBLISH', p .. 'ev:wake', 's' .. id .. ' ' .. ARGV[6]) end
local now, life = tonumber(ARGV[5]), tonumber(m[3])
if #events == 0 and ARGV[7] == '1' then
  redis.call('HSET', qk, 'h', ARGV[6])
  redis.call('ZADD', p .. 'ev:exp', now + life + tonumber(ARGV[8]), id)
else
  if m[4] then redis.call('HDEL', qk, 'h') end
  redis.call('ZADD', p .. 'ev:exp', now + life, id)
end
if ARGV[9] == '1' then return { first, events, m[5], m[6], m[3] } end
return { first, events }
`

/**
 * Reads queues whose polls this process holds. ARGV: prefix, now, heartbeat ('1': append a
 * heartbeat first), pending cap, then pairs (queue id, token).
 * Returns per pair: 0 (queue gone), or {first id, events}. A queue with events is answered:
 * its hold token is cleared and it counts as used now.
 */
export const READ = DROP + `
local p, now, beat, cap = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4])
local out, dropped = {}, {}
for i = 5, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  local qk, lk = p .. 'ev:q:' .. id, p .. 'ev:l:' .. id
  local m = redis.call('HMGET', qk, 'f', 'l', 'h')
  if not m[1] then
    out[#out + 1] = 0
  elseif beat and redis.call('LLEN', lk) >= cap then
    drop(p, id)
    dropped[#dropped + 1] = id
    out[#out + 1] = 0
  else
    if beat then redis.call('RPUSH', lk, '{"type":"heartbeat"}') end
    local events = redis.call('LRANGE', lk, 0, -1)
    if #events > 0 then
      if m[3] == token then redis.call('HDEL', qk, 'h') end
      redis.call('ZADD', p .. 'ev:exp', now + tonumber(m[2]), id)
    end
    out[#out + 1] = { tonumber(m[1]), events }
  end
end
gone(p, dropped)
return out
`

/**
 * Appends one event to a queue; shared by FANOUT and APPEND. Returns the event's id there, or
 * nil when the queue is gone or was over the cap (then dropped and listed in `dropped`).
 */
const PUSH = DROP + `
local function push(p, id, f, json, cap, dropped)
  local len = redis.call('RPUSH', p .. 'ev:l:' .. id, json)
  if len > cap then
    drop(p, id)
    dropped[#dropped + 1] = id
    return nil
  end
  redis.call('HDEL', p .. 'ev:q:' .. id, 'h')
  return tonumber(f) + len - 1
end
`

/**
 * The fan-out of one event in one script, for the queues whose filter Redis can apply alone:
 * no narrow, and every event type or a list of plain type names (field k: '*' or ',a,b,').
 * ARGV: prefix, pending cap, outbox key ('' = none), the guard's lifetime (s), event type,
 * '1' when every queue takes this type, the sender's id ('' = none), the payload, the payload
 * for the sender's own queues (with a sender), 'all' or 'users', then user ids.
 * Resolves the audience's queues (each user's set, or every queue), appends to those that take
 * the event (as APPEND does) unless the outbox key was seen already, publishes one wake-up, and
 * returns {1 when the key was seen already else 0, the ids of the queues Redis cannot decide
 * for (their filter is the publisher's: APPEND)}.
 */
export const FANOUT = PUSH + `
local p, cap, etype, always, sender = ARGV[1], tonumber(ARGV[2]), ',' .. ARGV[5] .. ',', ARGV[6] == '1', ARGV[7]
local seen = ARGV[3] ~= '' and not redis.call('SET', p .. 'ob:' .. ARGV[3], '1', 'NX', 'EX', ARGV[4])
local ids
if ARGV[10] == 'all' then
  ids = redis.call('ZRANGE', p .. 'ev:exp', 0, -1)
else
  ids = {}
  for i = 11, #ARGV do
    for _, q in ipairs(redis.call('SMEMBERS', p .. 'ev:u:' .. ARGV[i])) do ids[#ids + 1] = q end
  end
end
local woken, dropped, undecided = {}, {}, {}
for _, id in ipairs(ids) do
  local m = redis.call('HMGET', p .. 'ev:q:' .. id, 'f', 'u', 'k')
  if m[1] then
    local k = m[3]
    if not k then
      undecided[#undecided + 1] = id
    elseif not seen and (always or k == '*' or string.find(k, etype, 1, true)) then
      local n = (sender ~= '' and m[2] == sender) and 2 or 1
      local at = push(p, id, m[1], ARGV[7 + n], cap, dropped)
      if at then
        woken[#woken + 1] = id
        woken[#woken + 1] = at
        woken[#woken + 1] = n
      end
    end
  end
end
if #woken > 0 then
  local payloads = { ARGV[8] }
  if sender ~= '' then payloads[2] = ARGV[9] end
  redis.call('PUBLISH', p .. 'ev:wake', 'e' .. cjson.encode({ payloads, woken }))
end
gone(p, dropped)
return { seen and 1 or 0, undecided }
`

/**
 * The fan-out of one event to queues the publisher filtered (FANOUT's undecided ones). ARGV:
 * prefix, pending cap, outbox key ('' = none), the guard's lifetime (s), number of payloads,
 * the payloads, then pairs (queue id, payload number from 1).
 * An outbox key already seen appends nothing and returns nil (its event is in the queues: the
 * publisher and a recovery raced, or a delete failed). Appends to each queue that still exists;
 * a queue over the cap is dropped instead (its client registers again). An appended queue's
 * held poll is over (its token cleared). Publishes one wake-up for the event, carrying the
 * payloads and, per queue, the id the event got there: 'e' + JSON [payloads, [queue, id, payload …]],
 * so a holder that expected exactly that id answers without reading. Returns the ids missing or dropped.
 */
export const APPEND = PUSH + `
local p, cap, np = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[5])
if ARGV[3] ~= '' and not redis.call('SET', p .. 'ob:' .. ARGV[3], '1', 'NX', 'EX', ARGV[4]) then return nil end
local woken, dropped, missing = {}, {}, {}
for i = 6 + np, #ARGV, 2 do
  local id, k = ARGV[i], tonumber(ARGV[i + 1])
  local f = redis.call('HGET', p .. 'ev:q:' .. id, 'f')
  local at = f and push(p, id, f, ARGV[5 + k], cap, dropped)
  if not at then
    missing[#missing + 1] = id
  else
    woken[#woken + 1] = id
    woken[#woken + 1] = at
    woken[#woken + 1] = k
  end
end
if #woken > 0 then
  local payloads = {}
  for j = 1, np do payloads[j] = ARGV[5 + j] end
  redis.call('PUBLISH', p .. 'ev:wake', 'e' .. cjson.encode({ payloads, woken }))
end
gone(p, dropped)
return missing
`

/**
 * The metadata of queues registered by other processes, in one call instead of one HMGET each.
 * ARGV: prefix, then queue ids. Returns per id {owner, types, narrow} (nil fields for a queue gone).
 */
export const META = `
local p, out = ARGV[1], {}
for i = 2, #ARGV do out[#out + 1] = redis.call('HMGET', p .. 'ev:q:' .. ARGV[i], 'u', 't', 'n') end
return out
`

/** DELETE /events. ARGV: prefix, id, user. Returns 1, or 0 for an unknown or foreign queue. */
export const DELETE = DROP + `
local p, id = ARGV[1], ARGV[2]
if redis.call('HGET', p .. 'ev:q:' .. id, 'u') ~= ARGV[3] then return 0 end
drop(p, id)
gone(p, { id })
return 1
`

/**
 * The idle sweep. ARGV: prefix, now, limit; ARGV[4] = '1' drops every queue of the user ids
 * that follow instead (their events were lost in an outage). Returns how many were dropped.
 */
export const SWEEP = DROP + `
local p = ARGV[1]
local ids
if ARGV[4] == '1' then
  ids = {}
  for i = 5, #ARGV do
    for _, q in ipairs(redis.call('SMEMBERS', p .. 'ev:u:' .. ARGV[i])) do ids[#ids + 1] = q end
  end
elseif ARGV[4] == 'all' then
  ids = redis.call('ZRANGE', p .. 'ev:exp', 0, -1)
else
  ids = redis.call('ZRANGEBYSCORE', p .. 'ev:exp', '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
end
for _, q in ipairs(ids) do drop(p, q) end
gone(p, ids)
return #ids
`
