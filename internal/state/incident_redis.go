package state

import (
	"context"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// An incident is one hash under prefix+"incident:"+key with the fields
// opened, step, stepped, option and closed (ms on the clock, closed empty
// while open) and runbook (for humans reading Redis). Every script below
// reads and changes it in one step; none is a read-modify-write from Go.
func (r *Redis) incidentKey(k string) string { return r.prefix + "incident:" + k }

// incidentNowLua sets now: ARGV[1] when the store has an injected clock
// (tests), else the Redis server's clock, which every replica shares.
const incidentNowLua = `
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// incidentReplyLua returns {flag, now, opened, step, stepped, option, closed}.
const incidentReplyLua = `
local function reply(flag)
  local v = redis.call('HMGET', KEYS[1], 'opened', 'step', 'stepped', 'option', 'closed')
  return {flag, now, v[1] or '', v[2] or '', v[3] or '', v[4] or '', v[5] or ''}
end
`

// openIncidentScript. ARGV: now, runbook, retention ms.
var openIncidentScript = goredis.NewScript(incidentNowLua + incidentReplyLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'runbook', ARGV[2], 'opened', now, 'step', 0, 'stepped', now, 'option', 0, 'closed', '')
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return reply(1)
end
if redis.call('HGET', KEYS[1], 'closed') == '' then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return reply(0)`)

// escalateIncidentScript. ARGV: now, step, after ms, retention ms.
var escalateIncidentScript = goredis.NewScript(incidentNowLua + incidentReplyLua + `
if redis.call('EXISTS', KEYS[1]) == 0 then return reply(0) end
local v = redis.call('HMGET', KEYS[1], 'step', 'stepped', 'closed')
if v[3] ~= '' or tonumber(v[1]) ~= tonumber(ARGV[2]) or now - tonumber(v[2]) < tonumber(ARGV[3]) then
  return reply(0)
end
redis.call('HSET', KEYS[1], 'step', tonumber(ARGV[2]) + 1, 'stepped', now)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return reply(1)`)

// tookOptionScript. ARGV: option.
var tookOptionScript = goredis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'option', 'closed')
if v[1] and v[2] == '' and tonumber(ARGV[1]) > tonumber(v[1]) then
  redis.call('HSET', KEYS[1], 'option', ARGV[1])
end
return 0`)

// abandonIncidentScript deletes an open incident that has done nothing yet.
var abandonIncidentScript = goredis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'step', 'option', 'closed')
if v[1] and v[3] == '' and tonumber(v[1]) == 0 and tonumber(v[2]) == 0 then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// closeIncidentScript. ARGV: now, closed retention ms.
var closeIncidentScript = goredis.NewScript(incidentNowLua + incidentReplyLua + `
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HGET', KEYS[1], 'closed') ~= '' then
  return reply(0)
end
redis.call('HSET', KEYS[1], 'closed', now)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return reply(1)`)

// clockArg is ARGV[1] of the incident scripts: the injected clock in ms, or
// empty for the server's.
func (r *Redis) clockArg() string {
	if r.clock == nil {
		return ""
	}
	return strconv.FormatInt(r.clock().UnixMilli(), 10)
}

func (r *Redis) runIncident(ctx context.Context, op string, s *goredis.Script, key string, args ...any) (Incident, bool, error) {
	v, err := do(ctx, r, func(ctx context.Context) ([]any, error) {
		return s.Run(ctx, r.client, []string{r.incidentKey(key)}, append([]any{r.clockArg()}, args...)...).Slice()
	})
	if err != nil {
		return Incident{}, false, r.err(op, err)
	}
	inc, flag, err := parseIncident(v)
	if err != nil {
		return Incident{}, false, r.err(op, err)
	}
	return inc, flag, nil
}

func parseIncident(v []any) (Incident, bool, error) {
	if len(v) != 7 {
		return Incident{}, false, fmt.Errorf("script answered %d values, want 7", len(v))
	}
	flag, ok1 := v[0].(int64)
	now, ok2 := v[1].(int64)
	if !ok1 || !ok2 {
		return Incident{}, false, fmt.Errorf("script answered %T, %T; want integers", v[0], v[1])
	}
	var n [5]int64
	for i := range n {
		s, _ := v[2+i].(string)
		if s == "" {
			continue
		}
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Incident{}, false, fmt.Errorf("script value %d: %w", 2+i, err)
		}
		n[i] = x
	}
	inc := Incident{Now: time.UnixMilli(now), Step: int(n[1]), Option: int(n[3])}
	if n[0] != 0 {
		inc.OpenedAt = time.UnixMilli(n[0])
	}
	if n[2] != 0 {
		inc.SteppedAt = time.UnixMilli(n[2])
	}
	if n[4] != 0 {
		inc.ClosedAt = time.UnixMilli(n[4])
	}
	return inc, flag == 1, nil
}

// OpenIncident implements Incidents in one script.
func (r *Redis) OpenIncident(ctx context.Context, key, runbook string) (Incident, bool, error) {
	return r.runIncident(ctx, "opening an incident", openIncidentScript, key, runbook, IncidentRetention.Milliseconds())
}

// EscalateIncident implements Incidents in one script.
func (r *Redis) EscalateIncident(ctx context.Context, key string, step int, after time.Duration) (Incident, bool, error) {
	return r.runIncident(ctx, "escalating an incident", escalateIncidentScript, key, step, after.Milliseconds(), IncidentRetention.Milliseconds())
}

// CloseIncident implements Incidents in one script.
func (r *Redis) CloseIncident(ctx context.Context, key string) (Incident, bool, error) {
	return r.runIncident(ctx, "closing an incident", closeIncidentScript, key, ClosedIncidentRetention.Milliseconds())
}

// TookOption implements Incidents in one script.
func (r *Redis) TookOption(ctx context.Context, key string, option int) error {
	if err := r.exec(ctx, func(ctx context.Context) error {
		return tookOptionScript.Run(ctx, r.client, []string{r.incidentKey(key)}, option).Err()
	}); err != nil {
		return r.err("recording an incident's option", err)
	}
	return nil
}

// AbandonIncident implements Incidents in one script.
func (r *Redis) AbandonIncident(ctx context.Context, key string) error {
	if err := r.exec(ctx, func(ctx context.Context) error {
		return abandonIncidentScript.Run(ctx, r.client, []string{r.incidentKey(key)}).Err()
	}); err != nil {
		return r.err("abandoning an incident", err)
	}
	return nil
}
