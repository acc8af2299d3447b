"""The Redis queue's rules as Lua scripts: each call is one atomic step on the server.

Several queue components (one per node) share one Redis, so every step that
reads and then writes runs as a script: no other node's call interleaves.
Time comes in as an argument (``now``, seconds) rather than from the server,
so a lease deadline or a retry's not-before time means the same on every node
and tests can move a clock.

Keys, for prefix ``P`` and tenant ``t``:

- ``P:ids`` the last event id handed out (ids are shared by every node);
  ``P:tenants``, ``P:paused`` sets of tenant ids; ``P:where`` hash event id ->
  ``"<tenant> <stream entry id | -> <attempt>"`` for every live item (``-``:
  waiting for a retry).
- ``P:s:t`` the tenant's stream (consumer group ``jobico``); each entry is one
  attempt of one event: ``i`` id, ``e`` event, ``a`` attempt, ``b`` body,
  ``q`` enqueued at. An entry is deleted once settled, so ``XLEN`` = items
  ready or leased.
- ``P:L:t`` sorted set of leased entries by deadline; ``P:x:t`` list of
  entries whose lease expired, re-leased first (``XCLAIM``, which also counts
  the delivery).
- ``P:d:t`` sorted set of event ids backing off, by not-before time;
  ``P:h:t`` hash event id -> msgpack ``[event, attempt, body, enqueued_at]``.
- ``P:D:t`` the dead-letter stream (entry fields as above plus ``t`` dead at
  and ``r`` reason); ``P:Di:t`` hash event id -> its dead-letter entry id.
- ``P:k:t:<key>`` idempotency key -> ``"<at> <id,id,...>"``, expiring after 24 h.

Consumers of the group are ``<node>/<worker>`` (``redis_backend.node_id``):
every node has an ``executor-1``, so only the node's own name lets a
restarted worker find, and give back, what its predecessor held.

Whoever can write to Redis can write anything into these streams, so a
script never trusts an entry it did not just write: an entry without every
field, or that ``P:where`` does not name as its event's queued attempt, is
dead-lettered (under a fresh id, with a reason naming the entry) instead of
leased, and settling an entry deleted behind the queue's back cannot fail.
"""

from __future__ import annotations

GROUP = "jobico"

_COMMON = """
local P = ARGV[1]
local now = tonumber(ARGV[2])
local function fields(list)
  local f = {}
  for j = 1, #list, 2 do f[list[j]] = list[j + 1] end
  return f
end
local function new_ids(n, now_us)
  local first = math.max(now_us, tonumber(redis.call('GET', P .. ':ids') or '0') + 1)
  redis.call('SET', P .. ':ids', string.format('%d', first + n - 1))
  return first
end
local function add(t, f, attempt)
  local s = P .. ':s:' .. t
  if redis.call('EXISTS', s) == 0 then redis.call('XGROUP', 'CREATE', s, 'jobico', '0', 'MKSTREAM') end
  local sid = redis.call('XADD', s, '*', 'i', f.i, 'e', f.e, 'a', attempt, 'b', f.b, 'q', f.q)
  redis.call('HSET', P .. ':where', f.i, t .. ' ' .. sid .. ' ' .. attempt)
  return sid
end
local function promote(t)
  local due = redis.call('ZRANGEBYSCORE', P .. ':d:' .. t, '-inf', now)
  for _, eid in ipairs(due) do
    local it = cmsgpack.unpack(redis.call('HGET', P .. ':h:' .. t, eid))
    add(t, {i = eid, e = it[1], b = it[3], q = it[4]}, it[2])
    redis.call('HDEL', P .. ':h:' .. t, eid)
    redis.call('ZREM', P .. ':d:' .. t, eid)
  end
end
local function expire(t)
  local gone = redis.call('ZRANGEBYSCORE', P .. ':L:' .. t, '-inf', now)
  for _, sid in ipairs(gone) do
    redis.call('RPUSH', P .. ':x:' .. t, sid)
    redis.call('ZREM', P .. ':L:' .. t, sid)
  end
  return #gone
end
local function bury(t, f, attempt, reason)
  local dsid = redis.call('XADD', P .. ':D:' .. t, '*', 'i', f.i, 'e', f.e, 'a', attempt, 'b', f.b, 'q', f.q,
    't', ARGV[2], 'r', reason)
  redis.call('HSET', P .. ':Di:' .. t, f.i, dsid)
end
"""

# ARGV: P, now, tenant, event, now_us, key ('' = none), ttl_s, max_depth, items...
# -> {0, "id,id"} queued | {1, "id,id"} a known key | {2, depth} over the limit
ENQUEUE = _COMMON + """
local t, ev, now_us, key, ttl, max_depth = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7]),
  tonumber(ARGV[8])
local n = #ARGV - 8
local kname = P .. ':k:' .. t .. ':' .. key
if key ~= '' then
  local known = redis.call('GET', kname)
  if known then
    local at, ids = string.match(known, '^(%S+) (.*)$')
    if tonumber(at) + ttl > now then return {1, ids} end
  end
end
local depth = redis.call('XLEN', P .. ':s:' .. t) + redis.call('ZCARD', P .. ':d:' .. t)
if depth + n > max_depth then return {2, depth} end
local first = new_ids(n, now_us)
redis.call('SADD', P .. ':tenants', t)
local ids = {}
for j = 1, n do
  ids[j] = string.format('%016x', first + j - 1)
  add(t, {i = ids[j], e = ev, b = ARGV[8 + j], q = ARGV[2]}, '1')
end
local joined = table.concat(ids, ',')
if key ~= '' then
  redis.call('SET', kname, ARGV[2] .. ' ' .. joined, 'PXAT', string.format('%d', (now + ttl) * 1000))
end
return {0, joined}
"""

# ARGV: P, now -> flat {tenant, paused, ready, inflight, ...}; due retries and expired leases move first
SNAPSHOT = _COMMON + """
local out = {}
for _, t in ipairs(redis.call('SMEMBERS', P .. ':tenants')) do
  promote(t)
  expire(t)
  local leased = redis.call('ZCARD', P .. ':L:' .. t)
  local ready = redis.call('XLEN', P .. ':s:' .. t) - leased
  local paused = redis.call('SISMEMBER', P .. ':paused', t)
  for _, v in ipairs({t, paused, ready, leased}) do out[#out + 1] = v end
end
return out
"""

# ARGV: P, now, deadline, consumer, then (tenant, share, max_inflight) triples
# -> {leased, buried}: leased is flat {tenant, entry fields, ...}, expired leases first (XCLAIM), then new
# entries (XREADGROUP); buried is flat {tenant, dead letter id, reason} for the malformed entries met on
# the way, dead-lettered instead (they do not count against a share)
LEASE = _COMMON + """
local deadline, consumer = ARGV[3], ARGV[4]
local out, buried = {}, {}
-- why the entry cannot be delivered, or nil: a field is missing, or it is not its event's queued attempt
-- (forged, a copy of another entry, or left over); P:where is written with every entry the queue adds
local function malformed(t, sid, f)
  for _, k in ipairs({'i', 'e', 'a', 'b', 'q'}) do
    if not f[k] then return 'field ' .. k .. ' is missing' end
  end
  if redis.call('HGET', P .. ':where', f.i) ~= t .. ' ' .. sid .. ' ' .. f.a then
    return 'it is not the queued attempt of an event (not written by this queue)'
  end
  return nil
end
local function sane(value, pattern, fallback)
  if value and string.match(value, pattern) then return value end
  return fallback
end
local function bury_malformed(t, sid, f, why)
  local s = P .. ':s:' .. t
  redis.call('XACK', s, 'jobico', sid)
  redis.call('XDEL', s, sid)
  local eid = string.format('%016x', new_ids(1, math.floor(now * 1000000)))
  local reason = 'malformed queue entry ' .. sid .. ' of ' .. t .. ': ' .. why
  -- its own id may be garbage or another event's: a fresh one; text fields only if printable ASCII
  bury(t, {i = eid, e = sane(f.e, '^[%w%p]+$', ''), b = f.b or '', q = sane(f.q, '^%d+%.?%d*$', ARGV[2])},
    sane(f.a, '^[1-9]%d?%d?%d?%d?%d?$', '1'), reason)
  for _, v in ipairs({t, eid, reason}) do buried[#buried + 1] = v end
end
for j = 5, #ARGV, 3 do
  local t = ARGV[j]
  local s, L = P .. ':s:' .. t, P .. ':L:' .. t
  local want = math.min(tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2]) - redis.call('ZCARD', L))
  local function take(entry)
    local f = fields(entry[2])
    local why = malformed(t, entry[1], f)
    if why then return bury_malformed(t, entry[1], f, why) end
    redis.call('ZADD', L, deadline, entry[1])
    out[#out + 1] = t
    out[#out + 1] = entry[2]
    want = want - 1
  end
  while want > 0 do
    local sid = redis.call('LPOP', P .. ':x:' .. t)
    if not sid then break end
    local got = redis.call('XCLAIM', s, 'jobico', consumer, 0, sid)
    if got[1] and got[1][2] then take(got[1]) end
  end
  while want > 0 do
    local r = redis.call('XREADGROUP', 'GROUP', 'jobico', consumer, 'COUNT', want, 'STREAMS', s, '>')
    if not (r and r[1] and #r[1][2] > 0) then break end
    for _, entry in ipairs(r[1][2]) do take(entry) end
  end
end
return {out, buried}
"""

# ARGV: P, now, then (event id, outcome, reason, delay_s) quadruples -> the event ids applied
SETTLE = _COMMON + """
local applied = {}
for j = 3, #ARGV, 4 do
  local eid, outcome, reason = ARGV[j], ARGV[j + 1], ARGV[j + 2]
  local w = redis.call('HGET', P .. ':where', eid)
  if w then
    local t, sid, attempt = string.match(w, '^(%S+) (%S+) (%S+)$')
    local f
    if sid == '-' then
      local it = cmsgpack.unpack(redis.call('HGET', P .. ':h:' .. t, eid))
      f = {i = eid, e = it[1], b = it[3], q = it[4]}
      redis.call('HDEL', P .. ':h:' .. t, eid)
      redis.call('ZREM', P .. ':d:' .. t, eid)
    else
      local s = P .. ':s:' .. t
      local entry = redis.call('XRANGE', s, sid, sid)[1]
      if entry then
        f = fields(entry[2])
      else  -- deleted behind the queue's back: nothing to run again, but the loss stays visible
        f = {i = eid, e = '', b = '', q = ARGV[2]}
        if outcome ~= 'ack' then
          reason = 'queue entry ' .. sid .. ' was deleted from Redis while leased (' .. outcome .. ': '
            .. reason .. ')'
          outcome = 'dead'
        end
      end
      redis.call('XACK', s, 'jobico', sid)
      redis.call('XDEL', s, sid)
      redis.call('ZREM', P .. ':L:' .. t, sid)
      redis.call('LREM', P .. ':x:' .. t, 0, sid)
    end
    applied[#applied + 1] = eid
    if outcome == 'retry' then
      local next_attempt = tostring(tonumber(attempt) + 1)
      redis.call('HSET', P .. ':h:' .. t, eid, cmsgpack.pack({f.e, next_attempt, f.b, f.q}))
      redis.call('ZADD', P .. ':d:' .. t, now + tonumber(ARGV[j + 3]), eid)
      redis.call('HSET', P .. ':where', eid, t .. ' - ' .. next_attempt)
    else
      redis.call('HDEL', P .. ':where', eid)
      if outcome == 'dead' then bury(t, f, attempt, reason) end
    end
  end
end
return applied
"""

# ARGV: P, now, 'replay' | 'purge', tenant ('' = any), event ids... (none: all of the tenant's)
# -> {0, ids...} done | {1, id} that id is not a dead letter (of that tenant); nothing is changed then
REDEAD = _COMMON + """
local mode, tenant = ARGV[3], ARGV[4]
local chosen, seen = {}, {}
if #ARGV == 4 then
  local all = redis.call('HGETALL', P .. ':Di:' .. tenant)
  for j = 1, #all, 2 do chosen[#chosen + 1] = {tenant, all[j], all[j + 1]} end
  table.sort(chosen, function(a, b) return a[2] < b[2] end)
else
  local tenants = tenant ~= '' and {tenant} or redis.call('SMEMBERS', P .. ':tenants')
  for j = 5, #ARGV do
    local eid, found = ARGV[j], nil
    for _, t in ipairs(tenants) do
      local dsid = redis.call('HGET', P .. ':Di:' .. t, eid)
      if dsid then found = {t, eid, dsid} end
    end
    if not found then return {1, eid} end
    if not seen[eid] then chosen[#chosen + 1] = found end
    seen[eid] = true
  end
end
local ids = {0}
for _, c in ipairs(chosen) do
  local t, eid, dsid = c[1], c[2], c[3]
  local D = P .. ':D:' .. t
  local f = fields(redis.call('XRANGE', D, dsid, dsid)[1][2])
  redis.call('XDEL', D, dsid)
  redis.call('HDEL', P .. ':Di:' .. t, eid)
  if mode == 'replay' then add(t, f, tostring(tonumber(f.a) + 1)) end
  ids[#ids + 1] = eid
end
return ids
"""

# ARGV: P, now -> how many expired leases were made ready again
EXPIRE = _COMMON + """
local count = 0
for _, t in ipairs(redis.call('SMEMBERS', P .. ':tenants')) do count = count + expire(t) end
return count
"""

# ARGV: P, now, consumer -> how many of its leases were made ready again (re-leased first, by XCLAIM)
RELEASE = _COMMON + """
local consumer, count = ARGV[3], 0
for _, t in ipairs(redis.call('SMEMBERS', P .. ':tenants')) do
  local s, L = P .. ':s:' .. t, P .. ':L:' .. t
  local pending = redis.call('EXISTS', s) == 1 and redis.call('XPENDING', s, 'jobico')[1] or 0
  if pending > 0 then
    for _, p in ipairs(redis.call('XPENDING', s, 'jobico', '-', '+', pending, consumer)) do
      if redis.call('ZREM', L, p[1]) == 1 then  -- not already expired (then it is in P:x:t)
        redis.call('RPUSH', P .. ':x:' .. t, p[1])
        count = count + 1
      end
    end
  end
end
return count
"""

# ARGV: P, now -> flat {tenant, depth, inflight, dead, paused, ...}
STATS = _COMMON + """
local out = {}
for _, t in ipairs(redis.call('SMEMBERS', P .. ':tenants')) do
  local leased = redis.call('ZCARD', P .. ':L:' .. t)
  local depth = redis.call('XLEN', P .. ':s:' .. t) - leased + redis.call('ZCARD', P .. ':d:' .. t)
  local dead = redis.call('HLEN', P .. ':Di:' .. t)
  for _, v in ipairs({t, depth, leased, dead, redis.call('SISMEMBER', P .. ':paused', t)}) do
    out[#out + 1] = v
  end
end
return out
"""
