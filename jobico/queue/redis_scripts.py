"""The Redis queue's rules as Lua scripts: each call is one atomic step on the server.

Several queue components (one per node) share one Redis, so every step that
reads and then writes runs as a script: no other node's call interleaves.
Time comes in as an argument (``now``, seconds) rather than from the server,
so a lease deadline or a retry's not-before time means the same on every node
and tests can move a clock.

Keys, for prefix ``P``, tenant ``t`` and event ``e`` (layout 3, ``P:layout``):

- ``P:ids`` the last event id handed out (ids are shared by every node);
  ``P:tenants``, ``P:paused`` sets of tenant ids; ``P:ready`` the tenants with
  ready items; ``P:rr`` the tenant served last (round robin by name).
- ``P:where`` hash event id -> ``"<t> <e> <stream entry id | -> <attempt>"``
  for every live item (``-``: waiting for a retry).
- ``P:s:t:e`` the lane of event ``e``: a stream (consumer group ``jobico``)
  whose entries are attempts of its events: ``i`` id, ``e`` event, ``a``
  attempt, ``b`` body, ``q`` enqueued at. Deleted once settled.
  ``P:x:t:e`` list of the lane's items whose lease expired or was released,
  leased again first (``XCLAIM``, which also counts the delivery).
- ``P:c:t`` hash of the tenant's counters: ``R`` ready, ``F`` in flight
  (leased), ``D`` backing off, ``r:<e>`` / ``f:<e>`` / ``d:<e>`` ready, in
  flight and backing off per lane (a package's depth is the sum over its
  lanes; ``d:<e>`` since layout 3), ``rr`` the lane served last.
- ``P:lease`` hash event id -> ``"<lease_ms> <consumer>"`` while leased;
  ``P:L`` sorted set of leased event ids by deadline.
- ``P:d`` sorted set of event ids backing off, by not-before time; ``P:h``
  hash event id -> msgpack ``[body, enqueued_at]``.
- ``P:D:t`` the dead-letter stream (entry fields as above plus ``t`` dead at
  and ``r`` reason); ``P:Di:t`` hash event id -> its dead-letter entry id.
- ``P:key:<scope>:t:e:<key>`` idempotency key -> msgpack ``[at, "id,id",
  digest | false]``, expiring after 24 h. Keys of layout 1,
  ``P:k:t:<key>`` -> ``"<at> <id,id>"``, still answer a ``sender`` key of any
  event of ``t`` (without a digest) until they expire.
- ``P:policy:<node>`` hash tenant -> msgpack ``{cap, pk, of}``: the tenant's
  in-flight cap, its packages' ``max_concurrency`` and the events of those
  packages, as that node's config and catalog say (``redis_backend``).
- ``P:run`` the run id of the Redis that last expired leases.

Consumers of the group, and lease holders, are ``<node>/<worker>``
(``redis_backend.node_id``): every node has an ``executor-1``, so only the
node's own name lets a restarted worker find, and give back, what its
predecessor held.

Whoever can write to Redis can write anything into these keys, so a script
never trusts an entry it did not just write: a stream entry without every
field, or that ``P:where`` does not name as its event's queued attempt, is
dead-lettered (under a fresh id, with a reason naming the entry) instead of
leased, a garbled record is skipped, and settling an entry deleted behind the
queue's back cannot fail.
"""

from __future__ import annotations

GROUP = "jobico"
LAYOUT = "3"

_COMMON = """
local P = ARGV[1]
local now = tonumber(ARGV[2])
local function fields(list)
  local f = {}
  for j = 1, #list, 2 do f[list[j]] = list[j + 1] end
  return f
end
-- a table packed by the queue, or nil when the value is missing or garbled
local function unpacked(value)
  if not value then return nil end
  local ok, t = pcall(cmsgpack.unpack, value)
  if ok and type(t) == 'table' then return t end
  return nil
end
-- redis.call(cmd, head..., each of list) a chunk at a time (Lua's unpack takes some thousands at most)
local function bulk(cmd, head, list)
  for i = 1, #list, 4000 do
    local args = {}
    for _, v in ipairs(head) do args[#args + 1] = v end
    for k = i, math.min(i + 3999, #list) do args[#args + 1] = list[k] end
    redis.call(cmd, unpack(args))
  end
end
-- the values of fields ``list`` of hash ``key``, in order (false: none)
local function hmget(key, list)
  local out = {}
  for i = 1, #list, 4000 do
    for _, v in ipairs(redis.call('HMGET', key, unpack(list, i, math.min(i + 3999, #list)))) do
      out[#out + 1] = v
    end
  end
  return out
end
-- a ``P:where`` value read: the item's tenant, event, stream entry id and attempt
local function parse_where(w)
  if not w then return nil end
  return string.match(w, '^(%S+) (%S*) (%S+) (%d+)$')
end
local function where(eid) return parse_where(redis.call('HGET', P .. ':where', eid)) end
local function place(eid, t, e, sid, attempt)
  redis.call('HSET', P .. ':where', eid, t .. ' ' .. e .. ' ' .. sid .. ' ' .. attempt)
end
-- add ``by`` to one of tenant t's counters; a zero is deleted, so HGETALL stays small
local function count(t, name, by)
  if by == 0 then return end
  if redis.call('HINCRBY', P .. ':c:' .. t, name, by) == 0 then redis.call('HDEL', P .. ':c:' .. t, name) end
end
local function number(value) return tonumber(value) or 0 end
-- counter changes gathered over a script and applied once per counter at its end
local tallies = {}
local function tally(t, name, by)
  local m = tallies[t]
  if not m then m = {} tallies[t] = m end
  m[name] = (m[name] or 0) + by
end
local function apply_tallies()
  for t, m in pairs(tallies) do
    for name, by in pairs(m) do count(t, name, by) end
  end
  tallies = {}
end
local function ready(t, e, n)
  count(t, 'r:' .. e, n)
  count(t, 'R', n)
  redis.call('SADD', P .. ':ready', t)
end
local function new_ids(n, now_us)
  local first = math.max(now_us, tonumber(redis.call('GET', P .. ':ids') or '0') + 1)
  redis.call('SET', P .. ':ids', string.format('%d', first + n - 1))
  return first
end
-- one attempt of an item at the back of its lane (the caller counts it ready)
local function add(t, f, attempt)
  local s = P .. ':s:' .. t .. ':' .. f.e
  if redis.call('EXISTS', s) == 0 then redis.call('XGROUP', 'CREATE', s, 'jobico', '0', 'MKSTREAM') end
  local sid = redis.call('XADD', s, '*', 'i', f.i, 'e', f.e, 'a', attempt, 'b', f.b, 'q', f.q)
  place(f.i, t, f.e, sid, attempt)
  return sid
end
local function bury(t, f, attempt, reason)
  local dsid = redis.call('XADD', P .. ':D:' .. t, '*', 'i', f.i, 'e', f.e, 'a', attempt, 'b', f.b, 'q', f.q,
    't', ARGV[2], 'r', reason)
  redis.call('HSET', P .. ':Di:' .. t, f.i, dsid)
end
-- an item whose record is gone or garbled (written behind the queue's back): nothing to run, but the
-- loss stays visible as a dead letter
local function lost(t, eid, e, attempt, reason)
  redis.call('HDEL', P .. ':where', eid)
  bury(t, {i = eid, e = e, b = '', q = ARGV[2]}, attempt, reason)
end
local function sane(value, pattern, fallback)
  if value and string.match(value, pattern) then return value end
  return fallback
end
-- an entry of stream s the queue did not write: dead-lettered under a fresh id (its own may be garbage
-- or another event's), text fields kept only if printable ASCII; returns {t, id, reason}
local function bury_malformed(t, s, sid, f, why)
  redis.call('XACK', s, 'jobico', sid)
  redis.call('XDEL', s, sid)
  local eid = string.format('%016x', new_ids(1, math.floor(now * 1000000)))
  local reason = 'malformed queue entry ' .. sid .. ' of ' .. t .. ': ' .. why
  bury(t, {i = eid, e = sane(f.e, '^[%w%p]+$', ''), b = f.b or '', q = sane(f.q, '^%d+%.?%d*$', ARGV[2])},
    sane(f.a, '^[1-9]%d?%d?%d?%d?%d?$', '1'), reason)
  return {t, eid, reason}
end
-- the lease of eid: its length and holder, or nil
local function holder(eid)
  local h = redis.call('HGET', P .. ':lease', eid)
  if not h then return nil end
  return string.match(h, '^(%d+) (.*)$')
end
local function unlease(eid, t, e)
  redis.call('ZREM', P .. ':L', eid)
  redis.call('HDEL', P .. ':lease', eid)
  count(t, 'f:' .. e, -1)
  count(t, 'F', -1)
end
-- an expired or released lease: its item is leased again first, as the same attempt
local function give_back(eid)
  local t, e = where(eid)
  if not t then  -- its record was deleted behind the queue's back: nothing to give back
    redis.call('ZREM', P .. ':L', eid)
    redis.call('HDEL', P .. ':lease', eid)
    return 0
  end
  unlease(eid, t, e)
  redis.call('RPUSH', P .. ':x:' .. t .. ':' .. e, eid)
  ready(t, e, 1)
  return 1
end
local function expire()
  local n = 0
  for _, eid in ipairs(redis.call('ZRANGEBYSCORE', P .. ':L', '-inf', now)) do n = n + give_back(eid) end
  return n
end
-- leases of consumers whose name starts with ``who``: at least their length again from now (their
-- holders could not renew while the queue or Redis was away)
local function grace(who)
  local all = redis.call('HGETALL', P .. ':lease')
  for j = 1, #all, 2 do
    local ms, consumer = string.match(all[j + 1], '^(%d+) (.*)$')
    if consumer and string.sub(consumer, 1, #who) == who then
      local deadline = now + tonumber(ms) / 1000
      if number(redis.call('ZSCORE', P .. ':L', all[j])) < deadline then
        redis.call('ZADD', P .. ':L', deadline, all[j])
      end
    end
  end
end
-- a Redis restarted since leases were last expired (its run id changed) gives every lease its grace
local function after_restart()
  local run = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
  if redis.call('GET', P .. ':run') ~= run then
    grace('')
    redis.call('SET', P .. ':run', run)
  end
end
"""

# One item per name per round, from the first name after ``after`` (names sorted, wrapping), each at
# most ``limit[name]``; names of one group share ``room[group]`` (no entry: no bound). The rule of
# ``policy.fair_shares`` and ``policy.lane_shares``; O(count + names).
# -> shares (name -> n), how many in all, the last name served, and the names in the order served.
_ROUND_ROBIN = """
local function round_robin(names, limit, group_of, room, count, after)
  local n = #names
  local first = 1
  for k = 1, n do
    if names[k] > after then first = k break end
  end
  local left = {}
  for g, r in pairs(room) do left[g] = r end
  local active = {}
  for k = 0, n - 1 do active[#active + 1] = names[(first - 1 + k) % n + 1] end
  local shares, order, given, last = {}, {}, 0, after
  while #active > 0 and given < count do
    local kept = {}
    for _, name in ipairs(active) do
      if given == count then break end
      local g = group_of[name]
      local s = shares[name] or 0
      if s < limit[name] and (g == nil or left[g] == nil or left[g] > 0) then
        if s == 0 then order[#order + 1] = name end
        shares[name] = s + 1
        if g ~= nil and left[g] ~= nil then left[g] = left[g] - 1 end
        given = given + 1
        last = name
        kept[#kept + 1] = name
      end
    end
    active = kept
  end
  return shares, given, last, order
end
"""

# ARGV: P, now, tenant, event, now_us, scope, has key ('0'|'1'), key, has digest, digest, ttl_s, max_depth,
# the package's max_queue_depth, k (0: the event's package has none), the package's k events, items...
# -> {0, "id,id"} queued | {1, "id,id"} a known key | {2, depth} over the tenant's limit | {3} a known key
# first used with another body | {4, depth} over the package's limit
ENQUEUE = _COMMON + """
local t, e, now_us, scope = ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6]
local has_key, key = ARGV[7] == '1', ARGV[8]
local digest = ARGV[9] == '1' and ARGV[10] or false
local ttl, max_depth = tonumber(ARGV[11]), tonumber(ARGV[12])
local package_depth, k = tonumber(ARGV[13]), tonumber(ARGV[14])
local first_item = 15 + k
local kname = P .. ':key:' .. scope .. ':' .. t .. ':' .. e .. ':' .. key
if has_key then
  local known = unpacked(redis.call('GET', kname))
  if known and tonumber(known[1]) and tonumber(known[1]) + ttl > now and type(known[2]) == 'string' then
    if digest and known[3] and known[3] ~= digest then return {3} end
    return {1, known[2]}
  end
  if scope == 'sender' then  -- a key of layout 1: per tenant, no digest
    local old = redis.call('GET', P .. ':k:' .. t .. ':' .. key)
    local at, ids = string.match(old or '', '^(%S+) (.*)$')
    if at and tonumber(at) and tonumber(at) + ttl > now then return {1, ids} end
  end
end
local n = #ARGV - first_item + 1
local c = redis.call('HMGET', P .. ':c:' .. t, 'R', 'F', 'D')
local depth = number(c[1]) + number(c[2]) + number(c[3])
if depth + n > max_depth then return {2, depth} end
if k > 0 then
  local lanes = {}
  for j = 15, 14 + k do
    for _, kind in ipairs({'r:', 'f:', 'd:'}) do lanes[#lanes + 1] = kind .. ARGV[j] end
  end
  local held = 0
  for _, v in ipairs(hmget(P .. ':c:' .. t, lanes)) do held = held + number(v) end
  if held + n > package_depth then return {4, held} end
end
local first = new_ids(n, now_us)
redis.call('SADD', P .. ':tenants', t)
local ids = {}
for j = 1, n do
  ids[j] = string.format('%016x', first + j - 1)
  add(t, {i = ids[j], e = e, b = ARGV[first_item + j - 1], q = ARGV[2]}, '1')
end
ready(t, e, n)
local joined = table.concat(ids, ',')
if has_key then
  redis.call('SET', kname, cmsgpack.pack({ARGV[2], joined, digest}), 'PXAT',
    string.format('%d', (now + ttl) * 1000))
end
return {0, joined}
"""

# ARGV: P, now, consumer, node, lease_ms, max_items, per_tenant (-1: none), then (tenant, held) pairs
# -> {leased, buried, unknown}: leased is flat {tenant, entry fields, ...}; buried is flat {tenant, dead
# letter id, reason} for the malformed entries met on the way, dead-lettered instead (they take no
# share); unknown lists tenants with ready items but no policy from this node yet (skipped this time)
LEASE = _COMMON + _ROUND_ROBIN + """
local consumer, node = ARGV[3], ARGV[4]
local lease_ms, max_items, per_tenant = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local held = {}
for j = 8, #ARGV, 2 do held[ARGV[j]] = tonumber(ARGV[j + 1]) end
local deadline = now + lease_ms / 1000
local lease_value = string.format('%d', lease_ms) .. ' ' .. consumer
local out, buried, unknown = {}, {}, {}
local scores, values = {}, {}  -- of P:L and P:lease, for the leases taken, written at the end

local function promote()
  for _, eid in ipairs(redis.call('ZRANGEBYSCORE', P .. ':d', '-inf', now)) do
    local t, e, _, attempt = where(eid)
    local it = unpacked(redis.call('HGET', P .. ':h', eid))
    redis.call('ZREM', P .. ':d', eid)
    redis.call('HDEL', P .. ':h', eid)
    if t then
      count(t, 'D', -1)
      count(t, 'd:' .. e, -1)
      if it and type(it[1]) == 'string' and type(it[2]) == 'string' then
        add(t, {i = eid, e = e, b = it[1], q = it[2]}, attempt)
        ready(t, e, 1)
      else
        lost(t, eid, e, attempt, 'the retry record of ' .. eid .. ' was garbled in Redis')
      end
    end
  end
end

-- why a stream entry cannot be delivered, or nil: a field is missing, or it is not its event's queued
-- attempt in this lane (forged, a copy of another entry, or left over); P:where (``known``, the value for
-- the entry's event id) is written with every entry
local function malformed(t, e, sid, f, known)
  for _, k in ipairs({'i', 'e', 'a', 'b', 'q'}) do
    if not f[k] then return 'field ' .. k .. ' is missing' end
  end
  if known ~= t .. ' ' .. e .. ' ' .. sid .. ' ' .. f.a then
    return 'it is not the queued attempt of an event (not written by this queue)'
  end
  return nil
end

-- lease up to ``want`` items of lane e of tenant t, given-back ones first (fewer only if it has no more)
local function take(t, e, want)
  local s, x = P .. ':s:' .. t .. ':' .. e, P .. ':x:' .. t .. ':' .. e
  local got, ids = 0, {}
  local function hold(eid, raw)
    ids[#ids + 1] = eid
    out[#out + 1] = t
    out[#out + 1] = raw
    got = got + 1
  end
  while got < want do
    local eid = redis.call('LPOP', x)
    if not eid then break end
    local wt, we, sid, attempt = where(eid)
    if wt == t and we == e and sid ~= '-' and not holder(eid) then  -- else not given back here: skip it
      local entry = redis.call('XCLAIM', s, 'jobico', consumer, 0, sid)[1]
      local f = entry and entry[2] and fields(entry[2])
      if f and f.i == eid and f.a == attempt then
        hold(eid, entry[2])
      else  -- deleted (or replaced) behind the queue's back while waiting
        count(t, 'r:' .. e, -1)
        count(t, 'R', -1)
        lost(t, eid, e, attempt,
          'queue entry ' .. sid .. ' was deleted from Redis while waiting to be leased again')
      end
    end
  end
  while got < want do
    local r = redis.call('XREADGROUP', 'GROUP', 'jobico', consumer, 'COUNT', want - got, 'STREAMS', s, '>')
    if not (r and r[1] and #r[1][2] > 0) then break end
    local found, eids = {}, {}
    for k, entry in ipairs(r[1][2]) do
      found[k] = fields(entry[2])
      eids[k] = found[k].i or ''
    end
    local known = hmget(P .. ':where', eids)
    for k, entry in ipairs(r[1][2]) do
      local f = found[k]
      local why = malformed(t, e, entry[1], f, known[k])
      if why then
        for _, v in ipairs(bury_malformed(t, s, entry[1], f, why)) do buried[#buried + 1] = v end
      else
        hold(f.i, entry[2])
      end
    end
  end
  for _, eid in ipairs(ids) do
    scores[#scores + 1] = deadline
    scores[#scores + 1] = eid
    values[#values + 1] = eid
    values[#values + 1] = lease_value
  end
  count(t, 'f:' .. e, got)
  count(t, 'F', got)
  local gone = got
  if got < want then  -- the lane held fewer than its counter said (emptied behind the queue's back): none now
    gone = number(redis.call('HGET', P .. ':c:' .. t, 'r:' .. e))
  end
  count(t, 'r:' .. e, -gone)
  count(t, 'R', -gone)
end

after_restart()
promote()
expire()
local policies = P .. ':policy:' .. node
local paused = {}
for _, t in ipairs(redis.call('SMEMBERS', P .. ':paused')) do paused[t] = true end
local tenants = redis.call('SMEMBERS', P .. ':ready')
table.sort(tenants)
local names, available, plans = {}, {}, {}
for _, t in ipairs(tenants) do
  local c = fields(redis.call('HGETALL', P .. ':c:' .. t))
  local policy = not paused[t] and unpacked(redis.call('HGET', policies, t))
  if number(c.R) <= 0 then
    redis.call('SREM', P .. ':ready', t)
  elseif not paused[t] and not policy then
    unknown[#unknown + 1] = t
  elseif policy then
    local room = number(policy.cap) - number(c.F)
    if per_tenant >= 0 then room = math.min(room, per_tenant - (held[t] or 0)) end
    if room > 0 then
      local lanes, lane_ready, group_of, group_room = {}, {}, {}, {}
      for k, v in pairs(c) do
        if string.sub(k, 1, 2) == 'r:' and tonumber(v) > 0 then
          lanes[#lanes + 1] = string.sub(k, 3)
          lane_ready[string.sub(k, 3)] = tonumber(v)
        end
      end
      table.sort(lanes)
      local caps = type(policy.pk) == 'table' and policy.pk or {}
      for e, package in pairs(type(policy.of) == 'table' and policy.of or {}) do
        local cap = tonumber(caps[package])
        if cap then
          group_of[e] = package
          group_room[package] = (group_room[package] or cap) - number(c['f:' .. e])
        end
      end
      local want = math.min(room, max_items)
      local _, given = round_robin(lanes, lane_ready, group_of, group_room, want, c.rr or '')
      if given > 0 then
        names[#names + 1] = t
        available[t] = given
        plans[t] = {lanes, lane_ready, group_of, group_room, c.rr or ''}
      end
    end
  end
end
if #names > 0 and max_items > 0 then
  local shares, _, last, order = round_robin(names, available, {}, {}, max_items,
    redis.call('GET', P .. ':rr') or '')
  redis.call('SET', P .. ':rr', last)
  for _, t in ipairs(order) do
    local plan = plans[t]
    local per_lane, _, last_lane, lanes = round_robin(plan[1], plan[2], plan[3], plan[4], shares[t], plan[5])
    redis.call('HSET', P .. ':c:' .. t, 'rr', last_lane)
    for _, e in ipairs(lanes) do take(t, e, per_lane[e]) end
    if number(redis.call('HGET', P .. ':c:' .. t, 'R')) <= 0 then redis.call('SREM', P .. ':ready', t) end
  end
end
bulk('ZADD', {P .. ':L'}, scores)
bulk('HSET', {P .. ':lease'}, values)
return {out, buried, unknown}
"""

# ARGV: P, now, consumer, lease_ms, event ids... -> 1 (renewed) | 0 (not held by consumer) per id
RENEW = _COMMON + """
local consumer, lease_ms = ARGV[3], tonumber(ARGV[4])
local deadline = now + lease_ms / 1000
local lease_value = string.format('%d', lease_ms) .. ' ' .. consumer
local out = {}
for j = 5, #ARGV do
  local _, who = holder(ARGV[j])
  if who == consumer then
    redis.call('ZADD', P .. ':L', deadline, ARGV[j])
    redis.call('HSET', P .. ':lease', ARGV[j], lease_value)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
"""

# ARGV: P, now, consumer, then (event id, outcome, reason, delay_s) quadruples -> 1 (applied) | 0 (stale:
# not leased by consumer) per result. Lookups and deletions go to Redis in bulk: one call each per script
# (per lane for the streams), not one per item.
SETTLE = _COMMON + """
local consumer = ARGV[3]
local eids = {}
for j = 4, #ARGV, 4 do eids[#eids + 1] = ARGV[j] end
local leases, places = hmget(P .. ':lease', eids), hmget(P .. ':where', eids)
local out, seen, freed, gone, settled = {}, {}, {}, {}, {}
for k, eid in ipairs(eids) do
  local j = 4 * k
  local outcome, reason = ARGV[j + 1], ARGV[j + 2]
  local who = leases[k] and string.match(leases[k], '^%d+ (.*)$')
  local t, e, sid, attempt = parse_where(places[k])
  if who ~= consumer or not t or sid == '-' or seen[eid] then
    out[k] = 0
  else
    seen[eid] = true
    freed[#freed + 1] = eid
    tally(t, 'f:' .. e, -1)
    tally(t, 'F', -1)
    local s = P .. ':s:' .. t .. ':' .. e
    if not settled[s] then settled[s] = {} end
    table.insert(settled[s], sid)
    if outcome ~= 'ack' then  -- its body is needed again
      local entry = redis.call('XRANGE', s, sid, sid)[1]
      local f = entry and fields(entry[2])
      if not f then  -- deleted behind the queue's back: nothing to run again, but the loss stays visible
        f = {i = eid, e = e, b = '', q = ARGV[2]}
        reason = 'queue entry ' .. sid .. ' was deleted from Redis while leased (' .. outcome .. ': '
          .. reason .. ')'
        outcome = 'dead'
      end
      if outcome == 'retry' then
        redis.call('HSET', P .. ':h', eid, cmsgpack.pack({f.b, f.q}))
        redis.call('ZADD', P .. ':d', now + tonumber(ARGV[j + 3]), eid)
        place(eid, t, e, '-', tostring(tonumber(attempt) + 1))
        tally(t, 'D', 1)
        tally(t, 'd:' .. e, 1)
      else
        bury(t, f, attempt, reason)
      end
    end
    if outcome ~= 'retry' then gone[#gone + 1] = eid end
    out[k] = 1
  end
end
bulk('ZREM', {P .. ':L'}, freed)
bulk('HDEL', {P .. ':lease'}, freed)
bulk('HDEL', {P .. ':where'}, gone)
for s, sids in pairs(settled) do
  bulk('XACK', {s, 'jobico'}, sids)
  bulk('XDEL', {s}, sids)
end
apply_tallies()
return out
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
  if mode == 'replay' then
    add(t, f, tostring(tonumber(f.a) + 1))
    ready(t, f.e, 1)
  end
  ids[#ids + 1] = eid
end
return ids
"""

# ARGV: P, now -> how many expired leases were made ready again
EXPIRE = _COMMON + """
after_restart()
return expire()
"""

# ARGV: P, now, consumer -> how many of its leases were made ready again (leased again first, in id order)
RELEASE = _COMMON + """
local consumer, mine = ARGV[3], {}
local all = redis.call('HGETALL', P .. ':lease')
for j = 1, #all, 2 do
  if string.match(all[j + 1], '^%d+ (.*)$') == consumer then mine[#mine + 1] = all[j] end
end
table.sort(mine)
local n = 0
for _, eid in ipairs(mine) do n = n + give_back(eid) end
return n
"""

# ARGV: P, now, node -> the leases of the node's workers run at least their length again from now: the
# node's queue component was away (restarted), so they could not be renewed meanwhile
GRACE = _COMMON + """
grace(ARGV[3] .. '/')
return 0
"""

# ARGV: P, now -> flat {tenant, depth, inflight, dead, paused, ...}
STATS = _COMMON + """
local out = {}
for _, t in ipairs(redis.call('SMEMBERS', P .. ':tenants')) do
  local c = redis.call('HMGET', P .. ':c:' .. t, 'R', 'F', 'D')
  local dead = redis.call('HLEN', P .. ':Di:' .. t)
  local row = {t, number(c[1]) + number(c[3]), number(c[2]), dead, redis.call('SISMEMBER', P .. ':paused', t)}
  for _, v in ipairs(row) do out[#out + 1] = v end
end
return out
"""

# ARGV: P, now, tenant, chunk -> how many items of the tenant it moved from layout 1 (a stream per
# tenant, P:d:t and P:h:t) to layout 2, at most ``chunk`` per call; 0 once none are left. Leases of
# layout 1 are not kept: every node stopped for the upgrade, so their items are ready again.
MIGRATE = _COMMON + """
local t, chunk = ARGV[3], tonumber(ARGV[4])
local old, moved = P .. ':s:' .. t, 0
if redis.call('TYPE', old).ok == 'stream' then
  for _, entry in ipairs(redis.call('XRANGE', old, '-', '+', 'COUNT', chunk)) do
    local f = fields(entry[2])
    local ok = f.i and f.e and f.a and f.b and f.q
    if ok and redis.call('HGET', P .. ':where', f.i) == t .. ' ' .. entry[1] .. ' ' .. f.a then
      redis.call('XDEL', old, entry[1])
      add(t, f, f.a)
      ready(t, f.e, 1)
    else
      bury_malformed(t, old, entry[1], f, ok and 'it is not the queued attempt of an event (not written by '
        .. 'this queue)' or 'a field is missing')
    end
    moved = moved + 1
  end
  if moved == 0 then redis.call('DEL', old, P .. ':L:' .. t, P .. ':x:' .. t) end
end
if moved < chunk then
  local due = redis.call('ZRANGE', P .. ':d:' .. t, 0, chunk - moved - 1, 'WITHSCORES')
  for j = 1, #due, 2 do
    local eid = due[j]
    local it = unpacked(redis.call('HGET', P .. ':h:' .. t, eid))
    if it and type(it[1]) == 'string' and type(it[3]) == 'string' and type(it[4]) == 'string'
      and tonumber(it[2]) then
      redis.call('HSET', P .. ':h', eid, cmsgpack.pack({it[3], it[4]}))
      redis.call('ZADD', P .. ':d', due[j + 1], eid)
      place(eid, t, it[1], '-', it[2])
      count(t, 'D', 1)
      count(t, 'd:' .. it[1], 1)
    else
      lost(t, eid, '', '1', 'the retry record of ' .. eid .. ' was garbled in Redis')
    end
    redis.call('ZREM', P .. ':d:' .. t, eid)
    redis.call('HDEL', P .. ':h:' .. t, eid)
    moved = moved + 1
  end
end
return moved
"""

# ARGV: P, now -> how many items backing off it counted. Layout 3 counts them per lane too (``d:<e>``):
# those of an older layout are counted afresh here, in one step, so it may run again (another node
# upgrading at once) and still be exact.
RECOUNT = _COMMON + """
for _, t in ipairs(redis.call('SMEMBERS', P .. ':tenants')) do
  local c = redis.call('HGETALL', P .. ':c:' .. t)
  for j = 1, #c, 2 do
    if string.sub(c[j], 1, 2) == 'd:' then redis.call('HDEL', P .. ':c:' .. t, c[j]) end
  end
end
local waiting = redis.call('ZRANGE', P .. ':d', 0, -1)
local places = hmget(P .. ':where', waiting)
for k = 1, #waiting do
  local t, e = parse_where(places[k])
  if t then tally(t, 'd:' .. e, 1) end
end
apply_tallies()
return #waiting
"""
