package redis_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/redis"
)

type P = remediations.Params

var cache = remediations.Target{Kind: "Redis", Instance: "cache-0:6379"}

func TestActionsList(t *testing.T) {
	var names []string
	for _, a := range redis.Actions() {
		names = append(names, a.Spec().Name)
	}
	if want := []string{"redis.cache_report", "redis.delete_keys"}; !slices.Equal(names, want) {
		t.Errorf("Actions() = %v, want %v", names, want)
	}
}

func TestValidate(t *testing.T) {
	const ip = "invalid params: "
	for _, tc := range []struct {
		name    string
		action  remediations.Action
		params  P
		wantErr string
	}{
		{"cache_report", redis.CacheReport, P{}, ""},
		{"cache_report takes no params", redis.CacheReport, P{"section": "memory"}, ip + `unknown parameter "section" (the action takes none)`},
		{"delete_keys", redis.DeleteKeys, P{"pattern": "expired:*", "max_keys": 10000, "batch_size": 100, "pause_ms": 5}, ""},
		{"delete_keys exact key", redis.DeleteKeys, P{"pattern": "lock:job-1"}, ""},
		{"delete_keys no pattern", redis.DeleteKeys, P{"max_keys": 10}, ip + `pattern "" would match every key; name a prefix`},
		{"delete_keys star", redis.DeleteKeys, P{"pattern": "*"}, ip + `pattern "*" would match every key; name a prefix`},
		{"delete_keys stars", redis.DeleteKeys, P{"pattern": "***"}, ip + `pattern "***" would match every key; name a prefix`},
		{"delete_keys negative max_keys", redis.DeleteKeys, P{"pattern": "a:*", "max_keys": -1}, ip + "max_keys, batch_size and pause_ms must not be negative"},
		{"delete_keys negative batch_size", redis.DeleteKeys, P{"pattern": "a:*", "batch_size": -1}, ip + "max_keys, batch_size and pause_ms must not be negative"},
		{"delete_keys negative pause_ms", redis.DeleteKeys, P{"pattern": "a:*", "pause_ms": -1}, ip + "max_keys, batch_size and pause_ms must not be negative"},
		{"delete_keys pattern list", redis.DeleteKeys, P{"pattern": []string{"a:*"}},
			ip + "json: cannot unmarshal array into Go struct field DeleteKeysParams.pattern of type string"},
		{"delete_keys fractional max_keys", redis.DeleteKeys, P{"pattern": "a:*", "max_keys": 1.5},
			ip + "json: cannot unmarshal number 1.5 into Go struct field DeleteKeysParams.max_keys of type int64"},
		{"delete_keys unknown param", redis.DeleteKeys, P{"pattern": "a:*", "count": 10},
			ip + `unknown parameter "count" (known: pattern, max_keys, batch_size, pause_ms)`},
		{"delete_keys cap dodged by case", redis.DeleteKeys, P{"pattern": "a:*", "MAX_KEYS": 1_000_000}, ip + `unknown parameter "MAX_KEYS" (known: pattern, max_keys, batch_size, pause_ms)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.action.Validate(tc.params)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		action  remediations.Action
		target  remediations.Target
		params  P
		want    []string
		wantErr string
	}{
		{name: "cache_report", action: redis.CacheReport, target: cache, want: []string{"INFO stats", "INFO memory", "INFO replication"}},
		{
			name: "delete_keys", action: redis.DeleteKeys, target: cache,
			params: P{"pattern": "session:*", "max_keys": 1000, "batch_size": 200, "pause_ms": 10},
			want: []string{
				`SCAN cursor MATCH "session:*" COUNT 200`,
				"UNLINK in batches of 200, pause 10ms between batches, at most 1000 keys",
			},
		},
		{
			name: "delete_keys defaults", action: redis.DeleteKeys, target: cache, params: P{"pattern": "expired:*"},
			want: []string{
				`SCAN cursor MATCH "expired:*" COUNT 500`,
				"UNLINK in batches of 500, pause 0ms between batches, no cap",
			},
		},
		{
			name: "delete_keys quotes the pattern", action: redis.DeleteKeys, target: cache, params: P{"pattern": `a"b*`, "max_keys": 5},
			want: []string{
				`SCAN cursor MATCH "a\"b*" COUNT 500`,
				"UNLINK in batches of 500, pause 0ms between batches, at most 5 keys",
			},
		},
		{name: "delete_keys on postgres", action: redis.DeleteKeys, target: remediations.Target{Kind: "PostgreSQL", Database: "orders"}, params: P{"pattern": "a:*"},
			wantErr: "redis.delete_keys cannot act on a PostgreSQL target (accepts Redis)"},
		{name: "cache_report on a deployment", action: redis.CacheReport, target: remediations.Target{Kind: "Deployment", Namespace: "shop", Name: "redis"},
			wantErr: "redis.cache_report cannot act on a Deployment target (accepts Redis)"},
		{name: "delete_keys every key", action: redis.DeleteKeys, target: cache, params: P{"pattern": "*"},
			wantErr: `invalid params: pattern "*" would match every key; name a prefix`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := tc.action.Plan(tc.target, tc.params)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Errorf("Plan error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			if plan.Action != tc.action.Spec().Name {
				t.Errorf("plan.Action = %q", plan.Action)
			}
			if !slices.Equal(plan.Calls, tc.want) {
				t.Errorf("calls:\n  %s\nwant:\n  %s", strings.Join(plan.Calls, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}
