package audit_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/audit"
	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/pgtest"
	"github.com/remediator/remediator/policies"
	"github.com/remediator/remediator/remediations"
)

// clock is a settable test clock.
type clock struct{ us atomic.Int64 }

func newClock(t time.Time) *clock    { c := &clock{}; c.set(t); return c }
func (c *clock) set(t time.Time)     { c.us.Store(t.UnixMicro()) }
func (c *clock) now() time.Time      { return time.UnixMicro(c.us.Load()) }
func (c *clock) add(d time.Duration) { c.us.Add(d.Microseconds()) }

// backend opens stores on one database; every call to open is a new
// process (a new incarnation) on the same data.
type backend struct {
	name string
	dsn  func(t testing.TB) string
}

var backends = []backend{
	{"sqlite", func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "audit.db") }},
	{"postgres", func(t testing.TB) string { return pgtest.DSN(t, pgtest.CreateDatabase(t), "") }},
}

func open(t testing.TB, dsn, instance string, c *clock) *audit.Store {
	t.Helper()
	s, err := audit.Open(context.Background(), dsn, audit.Options{Instance: instance, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// forEachStore runs test against SQLite and PostgreSQL.
func forEachStore(t *testing.T, test func(t *testing.T, dsn string)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, b.dsn(t)) })
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func outcome(name, runbook, status string, target remediations.Target, action string) dispatch.Outcome {
	o := dispatch.Outcome{
		Alert:   dispatch.AlertRef{Name: name, Status: "firing", Fingerprint: "fp-" + name, StartsAt: t0, Labels: map[string]string{"alertname": name}},
		Runbook: runbook, Status: status, Target: &target, Investigations: []dispatch.StepOutcome{}, Options: []dispatch.OptionOutcome{},
	}
	if action != "" {
		o.Options = append(o.Options, dispatch.OptionOutcome{Option: 1, Action: action, Target: target,
			Decision: &policies.Decision{Allow: true, Reasons: []string{"allowed: all checks passed"}}})
		o.Chosen = 1
	}
	return o
}

func intent(o dispatch.Outcome) dispatch.Intent {
	opt := o.Options[0]
	return dispatch.Intent{Alert: o.Alert, Runbook: o.Runbook, Option: 1, Action: opt.Action, Target: opt.Target,
		Params: remediations.Params{"idle_seconds": 600}, Decision: opt.Decision}
}

var pgTarget = remediations.Target{Kind: "PostgreSQL", Database: "orders", Instance: "db:5432"}

func TestMigrationsIdempotent(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		c := newClock(t0)
		s := open(t, dsn, "a", c)
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatalf("second migration: %v", err)
		}
		// A second process on the same database migrates again: a no-op.
		s2 := open(t, dsn, "b", c)
		if err := s2.Record(context.Background(), outcome("A", "R", "denied", pgTarget, "")); err != nil {
			t.Fatal(err)
		}
		if err := s.Record(context.Background(), outcome("A", "R", "denied", pgTarget, "")); err != nil {
			t.Fatal(err)
		}
		p, err := s.List(context.Background(), audit.Filter{})
		if err != nil || len(p.Items) != 2 {
			t.Fatalf("list after migrating twice: %v %+v", err, p)
		}
	})
}

func TestIntentOutcomeRecord(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		c := newClock(t0)
		s := open(t, dsn, "a", c)
		o := outcome("PostgresTooManyConnections", "PostgresTooManyConnections", dispatch.StatusExecuted, pgTarget, "postgres.terminate_idle")
		id, err := s.Intent(ctx, intent(o))
		if err != nil {
			t.Fatal(err)
		}
		running, err := s.Actions(ctx, audit.StateRunning)
		if err != nil || len(running) != 1 || running[0].ID != id {
			t.Fatalf("after the intent, running actions: %v %+v", err, running)
		}
		c.add(1500 * time.Millisecond)
		res := &remediations.Result{Changes: []string{"terminated pid 42"}, Evidence: map[string]any{"terminated": 1}}
		if err := s.Outcome(ctx, id, dispatch.ActionOutcome{Result: res, Duration: 1500 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		if err := s.Outcome(ctx, "ffff", dispatch.ActionOutcome{}); err == nil {
			t.Error("outcome of an unknown intent: no error")
		}
		o.Options[0].IntentID = id
		o.Options[0].Result = res
		if err := s.Record(ctx, o); err != nil {
			t.Fatal(err)
		}
		p, err := s.List(ctx, audit.Filter{})
		if err != nil || len(p.Items) != 1 {
			t.Fatalf("list: %v %+v", err, p)
		}
		r := p.Items[0]
		if r.Alertname != "PostgresTooManyConnections" || r.Action != "postgres.terminate_idle" || r.Result != "executed" ||
			r.Target != pgTarget.String() || r.Instance != "a" || !r.Time.Equal(t0.Add(1500*time.Millisecond)) {
			t.Errorf("record %+v", r)
		}
		d, err := s.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Actions) != 1 || d.Actions[0].ID != id || d.Actions[0].State != audit.StateSuccess ||
			d.Actions[0].Duration == nil || *d.Actions[0].Duration != 1.5 || string(d.Actions[0].Params) != `{"idle_seconds":600}` ||
			!jsonHas(d.Actions[0].Result, `"changes":["terminated pid 42"],"evidence":{"terminated":1}`) {
			t.Errorf("actions %+v result %s", d.Actions, d.Actions[0].Result)
		}
		if !jsonHas(d.Outcome, "allowed: all checks passed") || !jsonHas(d.Outcome, id) {
			t.Errorf("outcome document lacks the decision's reasons or the intent id: %s", d.Outcome)
		}
		if _, err := s.Get(ctx, "0123abcd"); err != audit.ErrNotFound {
			t.Errorf("unknown id: %v", err)
		}
	})
}

// TestReapRule: a starting process marks as interrupted the running intents
// of its own instance's earlier incarnations and those older than the stale
// bound, never a live replica's young one; it writes a record for each, and
// does it once.
func TestReapRule(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		c := newClock(t0)
		old := open(t, dsn, "replica-c", c) // a replica gone long ago
		staleID, err := old.Intent(ctx, intent(outcome("Old", "R", "", pgTarget, "postgres.terminate_idle")))
		if err != nil {
			t.Fatal(err)
		}
		c.add(time.Hour)
		a1 := open(t, dsn, "replica-a", c) // crashes
		crashedID, err := a1.Intent(ctx, intent(outcome("Crashed", "R", "", pgTarget, "redis.delete_keys")))
		if err != nil {
			t.Fatal(err)
		}
		// Finished, but its process died before the alert's record.
		doneID, err := a1.Intent(ctx, intent(outcome("Unrecorded", "R", "", pgTarget, "postgres.terminate_idle")))
		if err != nil {
			t.Fatal(err)
		}
		if err := a1.Outcome(ctx, doneID, dispatch.ActionOutcome{Result: &remediations.Result{}}); err != nil {
			t.Fatal(err)
		}
		b := open(t, dsn, "replica-b", c) // live, mid-action
		liveID, err := b.Intent(ctx, intent(outcome("Live", "R", "", pgTarget, "postgres.terminate_idle")))
		if err != nil {
			t.Fatal(err)
		}
		c.add(time.Second)
		a2 := open(t, dsn, "replica-a", c) // replica-a restarts
		got, err := a2.Reap(ctx, c.now().Add(-(2*time.Minute + time.Minute)))
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, in := range got {
			ids = append(ids, in.ID)
			if in.RecordID == "" {
				t.Errorf("interrupted %s has no record", in.ID)
			}
		}
		if want := []string{staleID, crashedID}; !slices.Equal(ids, want) {
			t.Fatalf("interrupted %v, want %v (stale, then own earlier incarnation)", ids, want)
		}
		states := map[string]string{}
		all, err := a2.Actions(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range all {
			states[a.ID] = a.State
		}
		want := map[string]string{staleID: "interrupted", crashedID: "interrupted", doneID: "success", liveID: "running"}
		for id, st := range want {
			if states[id] != st {
				t.Errorf("action %s state %q, want %q", id, states[id], st)
			}
		}
		p, err := a2.List(ctx, audit.Filter{Result: audit.ResultInterrupted})
		if err != nil || len(p.Items) != 2 {
			t.Fatalf("interrupted records: %v %+v", err, p)
		}
		p, err = a2.List(ctx, audit.Filter{Alertname: "Unrecorded"})
		if err != nil || len(p.Items) != 1 || p.Items[0].Result != dispatch.StatusExecuted {
			t.Fatalf("record of the finished but unrecorded action: %v %+v", err, p)
		}
		d, err := a2.Get(ctx, got[1].RecordID)
		if err != nil || len(d.Actions) != 1 || d.Actions[0].ID != crashedID || d.Actions[0].Action != "redis.delete_keys" ||
			!jsonHas(d.Outcome, "not re-run") || d.Target != pgTarget.String() {
			t.Fatalf("interrupted record: %v %+v %s", err, d, d.Outcome)
		}
		// The live replica finishes its action normally afterwards.
		if err := b.Outcome(ctx, liveID, dispatch.ActionOutcome{Result: &remediations.Result{}}); err != nil {
			t.Fatal(err)
		}
		// Reaping again finds nothing.
		if again, err := a2.Reap(ctx, c.now().Add(-3*time.Minute)); err != nil || len(again) != 0 {
			t.Fatalf("second reap: %v %+v", err, again)
		}
	})
}

// TestConcurrentReap: replicas starting at once reap each orphan once:
// one interrupted record and one count per orphan, whoever finds it.
func TestConcurrentReap(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		c := newClock(t0)
		gone := open(t, dsn, "replica-gone", c)
		const orphans = 10
		for i := range orphans {
			if _, err := gone.Intent(ctx, intent(outcome(fmt.Sprintf("Orphan%d", i), "R", "", pgTarget, "postgres.terminate_idle"))); err != nil {
				t.Fatal(err)
			}
		}
		c.add(time.Hour)
		reapers := []*audit.Store{open(t, dsn, "replica-x", c), open(t, dsn, "replica-y", c), open(t, dsn, "replica-z", c)}
		counts := make([]int, len(reapers))
		var wg sync.WaitGroup
		for i, r := range reapers {
			wg.Go(func() {
				got, err := r.Reap(ctx, c.now().Add(-3*time.Minute))
				if err != nil {
					t.Error(err)
				}
				counts[i] = len(got)
			})
		}
		wg.Wait()
		total := 0
		for _, n := range counts {
			total += n
		}
		if total != orphans {
			t.Fatalf("reaped %v (total %d), want each of %d orphans once", counts, total, orphans)
		}
		p, err := reapers[0].List(ctx, audit.Filter{Result: audit.ResultInterrupted, Limit: audit.MaxLimit})
		if err != nil || len(p.Items) != orphans {
			t.Fatalf("interrupted records: %v, %d, want %d", err, len(p.Items), orphans)
		}
	})
}

// TestFiltersAndPagination: every filter, and pages that together hold
// every selected record once, newest first, records sharing a time included.
func TestFiltersAndPagination(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		c := newClock(t0)
		s := open(t, dsn, "a", c)
		names := []string{"HighCPUUsage", "PostgresTooManyConnections", "RedisMemoryHigh"}
		results := []string{"executed", "denied", "failed", "planned"}
		const n = 240
		for i := range n {
			if i%3 == 0 {
				c.add(time.Second) // three records share each time
			}
			tg := remediations.Target{Kind: "Deployment", Namespace: "shop", Name: fmt.Sprintf("svc-%d", i%4)}
			action := "kubernetes.scale"
			if results[i%4] == "denied" {
				action = ""
			}
			if err := s.Record(ctx, outcome(names[i%3], "rb-"+names[i%3], results[i%4], tg, action)); err != nil {
				t.Fatal(err)
			}
		}
		count := func(f audit.Filter) int {
			t.Helper()
			total, seen := 0, map[string]bool{}
			var last *audit.Record
			for {
				p, err := s.List(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range p.Items {
					if seen[r.ID] {
						t.Fatalf("record %s on two pages", r.ID)
					}
					seen[r.ID] = true
					if last != nil && (r.Time.After(last.Time) || r.Time.Equal(last.Time) && r.ID > last.ID) {
						t.Fatalf("not newest first: %+v after %+v", r, last)
					}
					last = &r
				}
				total += len(p.Items)
				if p.NextCursor == "" {
					return total
				}
				f.Cursor = p.NextCursor
			}
		}
		tests := []struct {
			name string
			f    audit.Filter
			want int
		}{
			{"all, default page", audit.Filter{}, n},
			{"all, pages of 7", audit.Filter{Limit: 7}, n},
			{"all, one page", audit.Filter{Limit: 1000}, n},
			{"alertname", audit.Filter{Alertname: "HighCPUUsage", Limit: 9}, n / 3},
			{"runbook", audit.Filter{Runbook: "rb-RedisMemoryHigh", Limit: 9}, n / 3},
			{"result", audit.Filter{Result: "denied", Limit: 11}, n / 4},
			{"action", audit.Filter{Action: "kubernetes.scale", Limit: 13}, 3 * n / 4},
			{"target substring", audit.Filter{Target: "svc-2", Limit: 5}, n / 4},
			{"target exact", audit.Filter{Target: "Deployment shop/svc-3"}, n / 4},
			{"target is case-sensitive", audit.Filter{Target: "SVC-3"}, 0},
			{"since", audit.Filter{Since: t0.Add(71 * time.Second), Limit: 4}, 30},
			{"until", audit.Filter{Until: t0.Add(11 * time.Second), Limit: 4}, 30},
			{"since and until", audit.Filter{Since: t0.Add(11 * time.Second), Until: t0.Add(21 * time.Second), Limit: 4}, 30},
			{"combined", audit.Filter{Alertname: "HighCPUUsage", Result: "executed", Limit: 3}, n / 12},
			{"nothing", audit.Filter{Alertname: "Nope"}, 0},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if got := count(tc.f); got != tc.want {
					t.Errorf("%d records, want %d", got, tc.want)
				}
			})
		}
		for _, bad := range []audit.Filter{{Cursor: "!!"}, {Cursor: "MTIz"}, {Limit: 1001}, {Result: "exploded"}, {Since: t0, Until: t0}} {
			if _, err := s.List(ctx, bad); err == nil {
				t.Errorf("List(%+v): no error", bad)
			}
		}
	})
}

// TestRetention: old records and finished actions go, in batches; recent
// ones and running actions stay.
func TestRetention(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		c := newClock(t0)
		s := open(t, dsn, "a", c)
		const old = 1234
		for i := range old {
			o := outcome("Old", "R", "executed", pgTarget, "postgres.terminate_idle")
			if i%100 == 0 {
				id, err := s.Intent(ctx, intent(o))
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Outcome(ctx, id, dispatch.ActionOutcome{Result: &remediations.Result{}}); err != nil {
					t.Fatal(err)
				}
				o.Options[0].IntentID = id
			}
			if err := s.Record(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
		running, err := s.Intent(ctx, intent(outcome("OldRunning", "R", "", pgTarget, "postgres.terminate_idle")))
		if err != nil {
			t.Fatal(err)
		}
		c.add(48 * time.Hour)
		for range 5 {
			if err := s.Record(ctx, outcome("New", "R", "denied", pgTarget, "")); err != nil {
				t.Fatal(err)
			}
		}
		recs, acts, err := s.DeleteBefore(ctx, c.now().Add(-24*time.Hour), 100)
		if err != nil || recs != old || acts != 13 {
			t.Fatalf("deleted %d records, %d actions (%v); want %d, 13", recs, acts, err, old)
		}
		p, err := s.List(ctx, audit.Filter{Limit: 1000})
		if err != nil || len(p.Items) != 5 {
			t.Fatalf("left: %v %d records", err, len(p.Items))
		}
		left, err := s.Actions(ctx, "")
		if err != nil || len(left) != 1 || left[0].ID != running {
			t.Fatalf("actions left: %v %+v", err, left)
		}
	})
}

// TestConcurrentWriters: several processes and goroutines writing at once
// lose nothing.
func TestConcurrentWriters(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		c := newClock(t0)
		stores := []*audit.Store{open(t, dsn, "a", c), open(t, dsn, "b", c)}
		const workers, each = 6, 20
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			s := stores[w%2]
			wg.Go(func() {
				for range each {
					o := outcome(fmt.Sprintf("W%d", w), "R", "executed", pgTarget, "postgres.terminate_idle")
					id, err := s.Intent(ctx, intent(o))
					if err != nil {
						errs <- err
						return
					}
					if err := s.Outcome(ctx, id, dispatch.ActionOutcome{Result: &remediations.Result{}}); err != nil {
						errs <- err
						return
					}
					o.Options[0].IntentID = id
					if err := s.Record(ctx, o); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		p, err := stores[0].List(ctx, audit.Filter{Limit: 1000})
		if err != nil || len(p.Items) != workers*each {
			t.Fatalf("%v: %d records, want %d", err, len(p.Items), workers*each)
		}
		acts, err := stores[1].Actions(ctx, audit.StateSuccess)
		if err != nil || len(acts) != workers*each {
			t.Fatalf("%v: %d actions, want %d", err, len(acts), workers*each)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct{ name, dsn, want string }{
		{"unknown scheme", "mysql://x", "want postgres://"},
		{"sqlite without path", "sqlite://", "sqlite:///absolute"},
		{"unreachable postgres", "postgres://u:Secret-Pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", "unreachable"},
		{"sqlite in a file", "sqlite://" + filepath.Join("/proc/self/status", "x.db"), "audit store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := audit.Open(ctx, tc.dsn, audit.Options{})
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			if !contains(err.Error(), tc.want) || contains(err.Error(), "Secret-Pw") {
				t.Fatalf("error %q: want it to say %q and hide the password", err, tc.want)
			}
		})
	}
}

func TestDefaultPath(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name string
		env  func(string) string
		want string
	}{
		{"systemd StateDirectory", env("STATE_DIRECTORY", "/var/lib/remediator", "HOME", "/root"), "/var/lib/remediator/audit.db"},
		{"XDG_STATE_HOME", env("XDG_STATE_HOME", "/x/state", "HOME", "/home/sre"), "/x/state/remediator/audit.db"},
		{"relative XDG_STATE_HOME is ignored", env("XDG_STATE_HOME", "rel", "HOME", "/home/sre"), "/home/sre/.local/state/remediator/audit.db"},
		{"HOME", env("HOME", "/home/sre"), "/home/sre/.local/state/remediator/audit.db"},
		{"nothing", env(), "data/audit.db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := audit.DefaultPath(tc.env); got != tc.want {
				t.Errorf("%q, want %q", got, tc.want)
			}
		})
	}
}
