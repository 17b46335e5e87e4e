package state

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/remediator/remediator/internal/redisurl"
)

// Defaults for RedisOptions left zero.
const (
	DefaultPrefix      = "remediator:"
	DefaultLockTTL     = 30 * time.Second
	DefaultCallTimeout = 5 * time.Second
	DefaultPoolSize    = 10
)

// failureRetention bounds how long a failure streak is kept in Redis without a
// further run. Memory keeps a streak for as long as the process lives; Redis
// needs a TTL on every key, so a streak older than a week is forgotten.
const failureRetention = 7 * 24 * time.Hour

// Lock polling backoff: the first retry comes quickly (an action's lock is
// often released within milliseconds), later ones back off to the cap.
const (
	lockPollMin = 5 * time.Millisecond
	lockPollMax = 250 * time.Millisecond
)

// RedisOptions configures a Redis store.
type RedisOptions struct {
	// URL is redis://[user:password@]host:port/db (rediss:// for TLS). It is
	// never shown: logs and errors name host:port/db only.
	URL string
	// Prefix starts every key, so several deployments can share one Redis
	// (DefaultPrefix when empty).
	Prefix string
	// LockTTL is how long a target lock outlives a crashed holder; a live
	// holder renews it every LockTTL/3 (DefaultLockTTL when 0).
	LockTTL time.Duration
	// CallTimeout bounds each command: dial, write and read
	// (DefaultCallTimeout when 0).
	CallTimeout time.Duration
	// PoolSize is the most connections kept open (DefaultPoolSize when 0).
	PoolSize int
	// Logger receives lock renewal trouble; discarded when nil.
	Logger *slog.Logger
	// Clock, when set, replaces the Redis server's clock for incident times
	// (opened, escalated, closed), so tests can move time. Leave it nil in
	// production: the server's clock is the one all replicas share.
	Clock func() time.Time
}

// Redis is a Store shared by several replicas through one Redis. Every update
// that must be atomic is one Lua script, and the windows are measured with
// the Redis server's clock, so replicas with skewed clocks agree. Every key
// carries the prefix and a TTL.
type Redis struct {
	client      *goredis.Client
	addr        string // host:port/db, safe to show
	sec         redisurl.Secrets
	prefix      string
	lockTTL     time.Duration
	callTimeout time.Duration
	window      time.Duration // Window; tests shorten it
	log         *slog.Logger
	clock       func() time.Time // incident times; nil means the server's

	id        string        // this instance, in zset members
	seq       atomic.Uint64 // makes members unique
	locksLost atomic.Uint64

	local   keyedMutex    // one contender per lock key from this process
	waker   *unlockWaker  // wakes waiters when any replica unlocks
	pollMin time.Duration // lockPollMin; tests raise it
	pollMax time.Duration // lockPollMax; tests raise it
}

// NewRedis returns a store on the Redis at opts.URL. It does not connect:
// an unreachable Redis makes every call fail (the daemon then fails closed)
// until it is back; Ping tells.
func NewRedis(opts RedisOptions) (*Redis, error) {
	if opts.LockTTL < 0 || opts.CallTimeout < 0 || opts.PoolSize < 0 {
		return nil, errors.New("redis state: lock_ttl, call_timeout and pool_size must not be negative")
	}
	sec := redisurl.NewSecrets(opts.URL)
	opt, err := redisurl.Parse(opts.URL, sec)
	if err != nil {
		return nil, fmt.Errorf("redis state: %w", err)
	}
	timeout := cmp.Or(opts.CallTimeout, DefaultCallTimeout)
	opt.ClientName = cmp.Or(opt.ClientName, "remediator-state")
	opt.PoolSize = cmp.Or(opts.PoolSize, opt.PoolSize, DefaultPoolSize)
	redisurl.Bound(opt, timeout)
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	client := goredis.NewClient(opt)
	prefix := cmp.Or(opts.Prefix, DefaultPrefix)
	return &Redis{
		client:      client,
		addr:        fmt.Sprintf("%s/%d", opt.Addr, opt.DB),
		sec:         sec,
		prefix:      prefix,
		lockTTL:     cmp.Or(opts.LockTTL, DefaultLockTTL),
		callTimeout: timeout,
		window:      Window,
		log:         log,
		clock:       opts.Clock,
		id:          rand.Text(),
		waker:       newUnlockWaker(client, prefix+"unlocked"),
		pollMin:     lockPollMin,
		pollMax:     lockPollMax,
	}, nil
}

// Addr is host:port/db of the Redis, safe to log.
func (r *Redis) Addr() string { return r.addr }

// Prefix is the prefix of every key.
func (r *Redis) Prefix() string { return r.prefix }

// LocksLost counts locks found lost while held (a metric).
func (r *Redis) LocksLost() uint64 { return r.locksLost.Load() }

// Close ends the unlock subscription and closes the connections.
func (r *Redis) Close() error {
	return r.sec.ScrubErr(errors.Join(r.waker.close(), r.client.Close()))
}

// call bounds one command (or script) by the call timeout.
func (r *Redis) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.callTimeout)
}

// do runs one command (or script) by the call timeout, and returns when ctx
// ends even if Redis does not answer (see redisurl.Call).
func do[T any](ctx context.Context, r *Redis, cmd func(context.Context) (T, error)) (T, error) {
	return redisurl.Call(ctx, r.callTimeout, cmd)
}

// exec is do for a command whose only answer is its error.
func (r *Redis) exec(ctx context.Context, cmd func(context.Context) error) error {
	_, err := do(ctx, r, func(ctx context.Context) (struct{}, error) { return struct{}{}, cmd(ctx) })
	return err
}

// err names the store and operation and removes any secret.
func (r *Redis) err(op string, err error) error {
	return fmt.Errorf("redis state (%s): %s: %w", r.addr, op, r.sec.ScrubErr(err))
}

// Keys. A target+action key joins them with '#' after the target; action
// names are catalog names, which have no '#', so the last '#' splits them.
func (r *Redis) dedupeKey(k string) string    { return r.prefix + "dedupe:" + k }
func (r *Redis) lockKey(k string) string      { return r.prefix + "lock:" + k }
func (r *Redis) globalKey() string            { return r.prefix + "actions:global" }
func (r *Redis) targetKey(t string) string    { return r.prefix + "actions:target:" + t }
func (r *Redis) actionKey(t, a string) string { return r.prefix + "actions:action:" + t + "#" + a }
func (r *Redis) lastKey(t, a string) string   { return r.prefix + "lastrun:" + t + "#" + a }
func (r *Redis) failKey(t, a string) string   { return r.prefix + "failures:" + t + "#" + a }

// Ping implements Store.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.exec(ctx, func(ctx context.Context) error { return r.client.Ping(ctx).Err() }); err != nil {
		return r.err("PING", err)
	}
	return nil
}

// reserveScript claims each key with SET NX PX and returns 1 where it did.
var reserveScript = goredis.NewScript(`
local out = {}
for i, k in ipairs(KEYS) do
  if redis.call('SET', k, ARGV[1], 'NX', 'PX', ARGV[2]) then out[i] = 1 else out[i] = 0 end
end
return out`)

// dropOwnScript deletes the keys still holding ARGV[1].
var dropOwnScript = goredis.NewScript(`
local n = 0
for _, k in ipairs(KEYS) do
  if redis.call('GET', k) == ARGV[1] then n = n + redis.call('DEL', k) end
end
return n`)

// Reserve implements Store: one script claims every key, so the batch costs
// one round trip and each key goes to exactly one caller.
func (r *Redis) Reserve(ctx context.Context, keys []string, ttl time.Duration) ([]bool, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if ttl < time.Millisecond {
		return nil, fmt.Errorf("redis state: dedupe ttl %s is under a millisecond", ttl)
	}
	rkeys := make([]string, len(keys))
	for i, k := range keys {
		rkeys[i] = r.dedupeKey(k)
	}
	token := rand.Text()
	res, err := do(ctx, r, func(ctx context.Context) ([]int64, error) {
		return reserveScript.Run(ctx, r.client, rkeys, token, ttl.Milliseconds()).Int64Slice()
	})
	if err == nil && len(res) != len(keys) {
		err = fmt.Errorf("script answered %d results for %d keys", len(res), len(keys))
	}
	if err != nil {
		// The script may have run even though its answer was lost: drop
		// whatever this call claimed, or the sender's retry would be taken
		// for a duplicate and never processed.
		drop := func() {
			dropCtx, cancel := r.call(context.WithoutCancel(ctx))
			defer cancel()
			if derr := dropOwnScript.Run(dropCtx, r.client, rkeys, token).Err(); derr != nil {
				r.log.Error("dropping dedupe keys of a failed reservation failed; their retry may be taken for a duplicate until the keys expire",
					"keys", len(keys), "ttl", ttl, "err", r.err("drop", derr))
			}
		}
		if ctx.Err() != nil {
			// The caller is gone (a shutdown, a client that hung up):
			// it is not kept waiting for the drop, which Redis may not
			// answer either.
			go drop()
		} else {
			drop()
		}
		return nil, r.err("reserving dedupe keys", err)
	}
	fresh := make([]bool, len(res))
	for i, v := range res {
		fresh[i] = v == 1
	}
	return fresh, nil
}

// Release implements Store.
func (r *Redis) Release(ctx context.Context, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	rkeys := make([]string, len(keys))
	for i, k := range keys {
		rkeys[i] = r.dedupeKey(k)
	}
	if err := r.exec(ctx, func(ctx context.Context) error { return r.client.Del(ctx, rkeys...).Err() }); err != nil {
		return r.err("releasing dedupe keys", err)
	}
	return nil
}

// unlockScript deletes the lock if ARGV[1] still owns it, and publishes its
// key on channel ARGV[2] so that waiters on every replica try it at once.
// (The channel is an argument, not a key: channels have no slot.) A refused
// PUBLISH (an ACL) is ignored: waiters then find the lock free by polling.
var unlockScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.pcall('PUBLISH', ARGV[2], KEYS[1])
  return 1
end
return 0`)

// renewScript extends the lock to ARGV[2] ms if ARGV[1] still owns it.
var renewScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)

// Lock implements Store: SET NX PX with a random owner token, tried again
// whenever another replica's release is published (unlockScript) and, as a
// fallback for a lost message, polled with backoff, until it succeeds or ctx
// ends. Goroutines of this process first queue for the key among
// themselves, so only one of them contends in Redis. While held, the lock is
// renewed every lock_ttl/3; if a renewal finds it gone (or cannot reach
// Redis for a whole lock_ttl) the lease is marked lost, logged and counted.
// A replica that crashes stops renewing, and its lock expires after
// lock_ttl.
func (r *Redis) Lock(ctx context.Context, key string) (*Lease, error) {
	unlockLocal, err := r.local.lock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("waiting for lock on %s: %w", key, err)
	}
	lk := r.lockKey(key)
	token := rand.Text()
	subCtx, cancel := r.call(ctx)
	wake, stopWaking := r.waker.wait(subCtx, lk)
	cancel()
	defer stopWaking()
	wait := r.pollMin
	for {
		sent := time.Now()
		ok, err := do(ctx, r, func(ctx context.Context) (bool, error) {
			return r.client.SetNX(ctx, lk, token, r.lockTTL).Result()
		})
		if err != nil {
			unlockLocal()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("waiting for lock on %s: %w", key, ctx.Err())
			}
			return nil, r.err("locking "+key, err)
		}
		if ok {
			return r.hold(key, lk, token, sent, unlockLocal), nil
		}
		// Full jitter keeps replicas that wait for one target from polling
		// in step.
		t := time.NewTimer(wait/2 + mrand.N(wait/2+1))
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			unlockLocal()
			return nil, fmt.Errorf("waiting for lock on %s: %w", key, ctx.Err())
		}
		t.Stop()
		wait = min(2*wait, r.pollMax)
	}
}

// hold starts renewing a lock taken at acquired and returns its lease;
// releasing it also frees the key for this process's next waiter.
func (r *Redis) hold(key, lk, token string, acquired time.Time, unlockLocal func()) *Lease {
	ctx, stop := context.WithCancel(context.Background())
	renewed := make(chan struct{})
	var l *Lease
	l = newLease(key, func() error {
		defer unlockLocal()
		stop()
		<-renewed
		if err := l.Err(); err != nil {
			return err
		}
		callCtx, cancel := r.call(context.Background())
		defer cancel()
		n, err := unlockScript.Run(callCtx, r.client, []string{lk}, token, r.waker.channel).Int()
		if err != nil {
			// It expires by itself within lock_ttl.
			return r.err("unlocking "+key, err)
		}
		if n == 0 {
			err := fmt.Errorf("%w: %s expired or was taken over before it was released", ErrLockLost, key)
			r.lost(l, err)
			return err
		}
		return nil
	})
	go func() {
		defer close(renewed)
		r.renew(ctx, l, lk, token, acquired)
	}()
	return l
}

// renew extends the lock every lock_ttl/3 until ctx ends or the lock is lost.
func (r *Redis) renew(ctx context.Context, l *Lease, lk, token string, lastOK time.Time) {
	t := time.NewTicker(r.lockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		// do: an unlock (which ends ctx) does not wait for a Redis that
		// stopped answering.
		n, err := do(ctx, r, func(ctx context.Context) (int, error) {
			return renewScript.Run(ctx, r.client, []string{lk}, token, r.lockTTL.Milliseconds()).Int()
		})
		switch {
		case ctx.Err() != nil:
			return // unlocking
		case err != nil:
			if time.Since(lastOK) >= r.lockTTL {
				r.lost(l, fmt.Errorf("%w: %s could not be renewed within lock_ttl %s: %w", ErrLockLost, l.key, r.lockTTL, r.err("renewing lock", err)))
				return
			}
			r.log.Warn("renewing a target lock failed; retrying", "key", l.key, "err", r.err("renewing lock", err))
		case n == 0:
			r.lost(l, fmt.Errorf("%w: %s expired or was taken over while held", ErrLockLost, l.key))
			return
		default:
			lastOK = sent
		}
	}
}

func (r *Redis) lost(l *Lease, err error) {
	l.markLost(err, func() {
		r.locksLost.Add(1)
		r.log.Error("target lock lost while held: another replica may act on the same target", "key", l.key, "lock_ttl", r.lockTTL, "err", err)
	})
}

// runScript counts a run as it starts. KEYS: global, target and action
// windows, last run. ARGV: member, window ms, last-run retention ms. Times
// are the server's, in ms.
var runScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
for i = 1, 3 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  redis.call('ZADD', KEYS[i], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], window)
end
redis.call('SET', KEYS[4], now, 'PX', ARGV[3])
return now`)

// resultScript records how a run ended. KEYS: failures. ARGV: "1" on
// success, failure retention ms.
var resultScript = goredis.NewScript(`
if ARGV[1] == '1' then
  return redis.call('DEL', KEYS[1])
end
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return n`)

// historyScript reads the counters. KEYS: the windows and last run as
// runScript's, then the failures; ARGV: window ms.
// It returns now, global, target and action counts within the window, the
// last run and the failures (each an empty string if none).
var historyScript = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local after = '(' .. (now - tonumber(ARGV[1]))
return {now,
  redis.call('ZCOUNT', KEYS[1], after, '+inf'),
  redis.call('ZCOUNT', KEYS[2], after, '+inf'),
  redis.call('ZCOUNT', KEYS[3], after, '+inf'),
  redis.call('GET', KEYS[4]) or '',
  redis.call('GET', KEYS[5]) or ''}`)

func (r *Redis) historyKeys(target, action string) []string {
	return []string{r.globalKey(), r.targetKey(target), r.actionKey(target, action), r.lastKey(target, action), r.failKey(target, action)}
}

// RecordAction implements Store as RecordRun then RecordResult. The
// dispatcher calls those two apart (the run before the action, its result
// after); together they are for callers that learn of a run after it ended.
func (r *Redis) RecordAction(ctx context.Context, target, action string, succeeded bool) error {
	if err := r.RecordRun(ctx, target, action); err != nil {
		return err
	}
	return r.RecordResult(ctx, target, action, succeeded)
}

// RecordRun implements Store in one script.
func (r *Redis) RecordRun(ctx context.Context, target, action string) error {
	member := r.id + ":" + strconv.FormatUint(r.seq.Add(1), 10)
	err := r.exec(ctx, func(ctx context.Context) error {
		return runScript.Run(ctx, r.client, r.historyKeys(target, action)[:4],
			member, r.window.Milliseconds(), lastRunRetention.Milliseconds()).Err()
	})
	if err != nil {
		return r.err("recording an action run", err)
	}
	return nil
}

// RecordResult implements Store in one script.
func (r *Redis) RecordResult(ctx context.Context, target, action string, succeeded bool) error {
	ok := "0"
	if succeeded {
		ok = "1"
	}
	err := r.exec(ctx, func(ctx context.Context) error {
		return resultScript.Run(ctx, r.client, []string{r.failKey(target, action)}, ok, failureRetention.Milliseconds()).Err()
	})
	if err != nil {
		return r.err("recording an action result", err)
	}
	return nil
}

// History implements Store in one script.
func (r *Redis) History(ctx context.Context, target, action string) (History, error) {
	v, err := do(ctx, r, func(ctx context.Context) ([]any, error) {
		return historyScript.Run(ctx, r.client, r.historyKeys(target, action), r.window.Milliseconds()).Slice()
	})
	if err != nil {
		return History{}, r.err("reading action history", err)
	}
	h, err := parseHistory(v)
	if err != nil {
		return History{}, r.err("reading action history", err)
	}
	return h, nil
}

func parseHistory(v []any) (History, error) {
	if len(v) != 6 {
		return History{}, fmt.Errorf("script answered %d values, want 6", len(v))
	}
	var n [4]int64
	for i := range n {
		x, ok := v[i].(int64)
		if !ok {
			return History{}, fmt.Errorf("script value %d is %T, want an integer", i, v[i])
		}
		n[i] = x
	}
	h := History{
		Now:                   time.UnixMilli(n[0]),
		GlobalActionsLastHour: int(n[1]),
		TargetActionsLastHour: int(n[2]),
		ActionRunsLastHour:    int(n[3]),
	}
	for i, dst := range []func(int64){
		func(x int64) { h.LastRun = time.UnixMilli(x) },
		func(x int64) { h.ConsecutiveFailures = int(x) },
	} {
		s, _ := v[4+i].(string)
		if s == "" {
			continue
		}
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return History{}, fmt.Errorf("script value %d: %w", 4+i, err)
		}
		dst(x)
	}
	return h, nil
}

// DeletePrefix deletes every key under the prefix (SCAN, then UNLINK in
// batches): this deployment's whole state. Tests use it to clean up.
func (r *Redis) DeletePrefix(ctx context.Context) error {
	iter := r.client.Scan(ctx, 0, r.prefix+"*", 1000).Iterator()
	batch := make([]string, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		callCtx, cancel := r.call(ctx)
		defer cancel()
		err := r.client.Unlink(callCtx, batch...).Err()
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return r.err("deleting keys", err)
			}
		}
	}
	if err := iter.Err(); err != nil {
		return r.err("scanning keys", err)
	}
	if err := flush(); err != nil {
		return r.err("deleting keys", err)
	}
	return nil
}
