package runbook_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/runbook"
)

// head is a valid runbook up to its resolve list; cases append steps. Its
// lines: 1 runbooks, 2 name, 3 match, 4 target, 5 resolve, 6 first step.
const head = `runbooks:
  - name: A
    match: ['alertname="X"']
    target: {kind: Deployment, namespace: [namespace], name: [deployment]}
    resolve:
`

var fileLine = regexp.MustCompile(`^runbooks\.yaml:[0-9]+: `)

// TestCompileErrors checks that bad runbooks fail with FILE:LINE: reason,
// the line being the one of the offending runbook, step or key.
func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		// want is the whole error, or its start when it ends in "…".
		want string
	}{
		{
			name: "unknown runbook field (typo)",
			src:  "runbooks:\n  - name: A\n    matches: ['alertname=\"X\"']\n",
			want: "runbooks.yaml:3: field matches not found in type runbook.Runbook",
		},
		{
			name: "unknown step field (typo)",
			src:  head + "      - action: kubernetes.scale\n        parms: {step: 1}\n",
			want: "runbooks.yaml:7: field parms not found in type runbook.Step",
		},
		{
			name: "unknown target field (typo)",
			src: "runbooks:\n  - name: A\n    match: ['alertname=\"X\"']\n" +
				"    target: {kind: Deployment, namepsace: [namespace], name: [deployment]}\n" +
				"    resolve: [{action: kubernetes.rollout_restart}]\n",
			want: "runbooks.yaml:4: field namepsace not found in type runbook.TargetSpec",
		},
		{
			name: "unknown field in a step's target (typo)",
			src: head + "      - action: kubernetes.rollout_restart\n" +
				"        target: {kind: Deployment, namespace: [ns], nmae: [app]}\n",
			want: "runbooks.yaml:7: field nmae not found in type runbook.TargetSpec",
		},
		{
			name: "unknown top-level field (typo)",
			src:  "runbook:\n  - name: A\n",
			want: "runbooks.yaml:1: field runbook not found in type struct { Runbooks []*runbook.Runbook \"yaml:\\\"runbooks\\\"\" }",
		},
		{
			name: "several unknown fields are all reported",
			src:  head + "      - action: kubernetes.scale\n        parms: {step: 1}\n        stp: 2\n",
			want: "runbooks.yaml:7: field parms not found in type runbook.Step\nrunbooks.yaml:8: field stp not found in type runbook.Step",
		},
		{
			name: "wrong YAML type",
			src:  "runbooks:\n  - name: [A]\n",
			want: "runbooks.yaml:2: cannot unmarshal !!seq into string",
		},
		{
			name: "invalid matcher",
			src:  "runbooks:\n  - name: A\n    match:\n      - 'alertname=\"X\"'\n      - 'severity=~\"(\"'\n",
			want: `runbooks.yaml:5: invalid matcher "severity=~\"(\"": …`,
		},
		{
			name: "invalid matcher syntax",
			src:  "runbooks:\n  - name: A\n    match: 'alertname=X=\"'\n",
			want: `runbooks.yaml:3: invalid matcher "alertname=X=\"": …`,
		},
		{
			name: "match is a mapping",
			src:  "runbooks:\n  - name: A\n    match: {alertname: X}\n",
			want: "runbooks.yaml:3: cannot unmarshal !!map into []string",
		},
		{
			name: "unknown action lists the known ones",
			src:  head + "      - action: kubernetes.scael\n",
			want: `runbooks.yaml:6: runbook "A": unknown action "kubernetes.scael" (known: ` + knownActions + ")",
		},
		{
			name: "investigation used under resolve",
			src:  head + "      - action: kubernetes.rollout_restart\n      - action: kubernetes.pod_status\n",
			want: `runbooks.yaml:7: runbook "A": action "kubernetes.pod_status" is for investigations, not resolutions`,
		},
		{
			name: "resolution used under investigate",
			src: "runbooks:\n  - name: A\n    match: ['alertname=\"X\"']\n    target: {kind: Deployment}\n" +
				"    investigate:\n      - action: kubernetes.rollout_restart\n    resolve: [{action: kubernetes.rollout_restart}]\n",
			want: `runbooks.yaml:6: runbook "A": action "kubernetes.rollout_restart" is for resolutions, not investigations`,
		},
		{
			name: "scale with both step and replicas",
			src:  head + "      - action: kubernetes.scale\n        params: {step: 2, replicas: 3}\n",
			want: `runbooks.yaml:6: runbook "A": action kubernetes.scale: invalid params: exactly one of replicas, step or factor is required`,
		},
		{
			name: "unknown param",
			src:  head + "      - action: kubernetes.scale\n        params: {step: 2, max_replica: 3}\n",
			want: `runbooks.yaml:6: runbook "A": action kubernetes.scale: invalid params: unknown parameter "max_replica" (known: replicas, step, factor, max_replicas, min_replicas, allow_zero, hpa)`,
		},
		{
			name: "param name in the wrong case",
			src:  head + "      - action: kubernetes.scale\n        params: {Step: 2}\n",
			want: `runbooks.yaml:6: runbook "A": action kubernetes.scale: invalid params: unknown parameter "Step" …`,
		},
		{
			name: "param of the wrong type",
			src:  head + "      - action: kubernetes.scale\n        params: {step: two}\n",
			want: `runbooks.yaml:6: runbook "A": action kubernetes.scale: invalid params: json: cannot unmarshal string into Go struct field ScaleParams.step of type int32`,
		},
		{
			name: "template in a numeric param",
			src:  head + "      - action: kubernetes.delete_pods\n        params: {selector: app=x, max_pods: '{{ .Labels.n }}'}\n",
			want: `runbooks.yaml:6: runbook "A": action kubernetes.delete_pods: invalid params: json: cannot unmarshal string into Go struct field DeletePodsParams.max_pods of type int32`,
		},
		{
			name: "bad template syntax",
			src:  head + "      - action: kubernetes.delete_pods\n        params: {selector: 'app={{ .Labels.app '}\n",
			want: `runbooks.yaml:6: runbook "A": param selector: template: selector:1: unclosed action`,
		},
		{
			name: "unknown function in template",
			src:  head + "      - action: kubernetes.delete_pods\n        params: {selector: 'app={{ lower .Labels.app }}'}\n",
			want: `runbooks.yaml:6: runbook "A": param selector: template: selector:1: function "lower" not defined`,
		},
		{
			name: "unknown target kind",
			src:  "runbooks:\n  - name: A\n    match: ['alertname=\"X\"']\n    target: {kind: Pod}\n    resolve: [{action: kubernetes.rollout_restart}]\n",
			want: `runbooks.yaml:2: runbook "A": target kind "Pod" is not one of Deployment, StatefulSet, Namespace, PostgreSQL, Redis`,
		},
		{
			name: "missing target kind",
			src:  "runbooks:\n  - name: A\n    match: ['alertname=\"X\"']\n    resolve: [{action: kubernetes.rollout_restart}]\n",
			want: `runbooks.yaml:2: runbook "A": target kind "" is not one of Deployment, StatefulSet, Namespace, PostgreSQL, Redis`,
		},
		{
			name: "unknown target kind of a step",
			src:  head + "      - action: kubernetes.rollout_restart\n      - action: kubernetes.scale\n        params: {step: 1}\n        target: {kind: Deploymnet}\n",
			want: `runbooks.yaml:7: runbook "A": target kind "Deploymnet" is not one of Deployment, StatefulSet, Namespace, PostgreSQL, Redis`,
		},
		{
			name: "unknown target kind of an investigation step",
			src: "runbooks:\n  - name: A\n    match: ['alertname=\"X\"']\n    target: {kind: Deployment}\n" +
				"    investigate:\n      - action: kubernetes.events\n        target: {kind: Cluster}\n    resolve: [{action: kubernetes.rollout_restart}]\n",
			want: `runbooks.yaml:6: runbook "A": target kind "Cluster" is not one of Deployment, StatefulSet, Namespace, PostgreSQL, Redis`,
		},
		{
			name: "duplicate runbook name (at the second definition's line)",
			src: head + "      - action: kubernetes.rollout_restart\n" +
				"  - name: B\n    match: ['alertname=\"Y\"']\n    target: {kind: Redis}\n    resolve: [{action: redis.delete_keys, params: {pattern: 'x:*'}}]\n" +
				"  - name: A\n    match: ['alertname=\"Z\"']\n    target: {kind: Redis}\n    resolve: [{action: redis.delete_keys, params: {pattern: 'x:*'}}]\n",
			want: `runbooks.yaml:11: runbook "A" is defined twice`,
		},
		{
			name: "runbook without match",
			src:  "runbooks:\n  - name: A\n    target: {kind: Redis}\n    resolve: [{action: redis.delete_keys, params: {pattern: 'x:*'}}]\n",
			want: `runbooks.yaml:2: runbook "A": match needs at least one matcher (a runbook must not select every alert)`,
		},
		{
			name: "runbook with an empty match list",
			src:  "runbooks:\n  - name: A\n    match: []\n    target: {kind: Redis}\n    resolve: [{action: redis.delete_keys, params: {pattern: 'x:*'}}]\n",
			want: `runbooks.yaml:2: runbook "A": match needs at least one matcher …`,
		},
		{
			name: "runbook without resolve",
			src:  "runbooks:\n  - name: A\n    match: ['alertname=\"X\"']\n    target: {kind: Redis}\n    investigate: [{action: redis.cache_report}]\n",
			want: `runbooks.yaml:2: runbook "A": resolve needs at least one option`,
		},
		{
			name: "runbook without name",
			src:  "runbooks:\n  - match: ['alertname=\"X\"']\n    target: {kind: Redis}\n",
			want: `runbooks.yaml:2: runbook "": name is required`,
		},
		{
			name: "YAML syntax error",
			src:  "runbooks:\n  - name: A\n    match: alertname: X\n",
			want: "runbooks.yaml:3: mapping values are not allowed in this context",
		},
		{
			name: "YAML unterminated quote",
			src:  "runbooks:\n  - name: 'A\n",
			want: "runbooks.yaml:2: found unexpected end of stream",
		},
		{
			name: "escalate_after with one option: nothing to escalate to",
			src:  strings.Replace(head, "    resolve:\n", "    escalate_after: 15m\n    resolve:\n", 1) + "      - action: kubernetes.scale\n",
			want: `runbooks.yaml:2: runbook "A": escalate_after needs at least two resolve options to escalate between`,
		},
		{
			name: "negative escalate_after",
			src:  strings.Replace(head, "    resolve:\n", "    escalate_after: -1m\n    resolve:\n", 1) + "      - action: kubernetes.scale\n      - action: kubernetes.rollout_restart\n",
			want: `runbooks.yaml:2: runbook "A": escalate_after -1m0s is negative`,
		},
		{
			name: "escalate_after not a duration",
			src:  strings.Replace(head, "    resolve:\n", "    escalate_after: soon\n    resolve:\n", 1) + "      - action: kubernetes.scale\n",
			want: "runbooks.yaml:5: …",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compile(t, tc.src)
			if err == nil {
				t.Fatal("compiled without error")
			}
			got := err.Error()
			if !fileLine.MatchString(got) {
				t.Errorf("error %q does not start with runbooks.yaml:LINE: ", got)
			}
			if prefix, ok := strings.CutSuffix(tc.want, "…"); ok {
				if !strings.HasPrefix(got, prefix) {
					t.Errorf("error:\n  %s\nwant prefix:\n  %s", got, prefix)
				}
			} else if got != tc.want {
				t.Errorf("error:\n  %s\nwant:\n  %s", got, tc.want)
			}
		})
	}
}

const knownActions = "kubernetes.configmap_keys, kubernetes.delete_pod, kubernetes.delete_pods, kubernetes.endpoints, " +
	"kubernetes.events, kubernetes.logs, kubernetes.pod_status, kubernetes.restore_namespace, kubernetes.rollout_history, " +
	"kubernetes.rollout_restart, kubernetes.rollout_undo, kubernetes.scale, kubernetes.scale_namespace, kubernetes.set_env, " +
	"kubernetes.set_resources, kubernetes.top_pods, postgres.connection_report, postgres.recommend_max_connections, " +
	"postgres.terminate_idle, redis.cache_report, redis.delete_keys"

func TestCompileValid(t *testing.T) {
	set := mustCompile(t, head+`      - action: kubernetes.scale
        params: {step: 2, max_replicas: 10}
      - action: kubernetes.delete_pods
        params: {selector: 'app={{ .Labels.app }}', max_pods: 1}
        target: {kind: StatefulSet, namespace: [namespace], name: [statefulset]}
    investigate:
      - action: kubernetes.logs
        params: {lines: 50}
  - name: B
    match: 'alertname="Y"'
    target: {kind: Redis, instance: [instance]}
    investigate: [{action: redis.cache_report}]
    resolve: [{action: redis.delete_keys, params: {pattern: 'sess:*', max_keys: 100}}]
`)
	if len(set.Runbooks) != 2 {
		t.Fatalf("%d runbooks, want 2", len(set.Runbooks))
	}
	a := set.Runbooks[0]
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"runbook A", a.Line, 2},
		{"resolve[0]", a.Resolve[0].Line, 6},
		{"resolve[1]", a.Resolve[1].Line, 8},
		{"investigate[0]", a.Investigate[0].Line, 12},
		{"runbook B", set.Runbooks[1].Line, 14},
	} {
		if c.got != c.want {
			t.Errorf("%s Line = %d, want %d", c.what, c.got, c.want)
		}
	}
	if got := a.TargetFor(a.Resolve[1]).Kind; got != "StatefulSet" {
		t.Errorf("TargetFor(step with target) kind = %s, want StatefulSet", got)
	}
	if got := a.TargetFor(a.Resolve[0]).Kind; got != "Deployment" {
		t.Errorf("TargetFor(step without target) kind = %s, want Deployment", got)
	}

	esc := mustCompile(t, strings.Replace(head, "    resolve:\n", "    escalate_after: 15m\n    resolve:\n", 1)+
		"      - action: kubernetes.scale\n        params: {step: 1}\n      - action: kubernetes.rollout_restart\n")
	if got := esc.Runbooks[0].EscalateAfter; got != 15*time.Minute {
		t.Errorf("escalate_after: 15m decoded as %v", got)
	}
}

// TestConfigLoadErrors goes through config.Load as the daemon does: errors
// name the config file and the line.
func TestConfigLoadErrors(t *testing.T) {
	cat := catalog(t)
	for _, tc := range []struct {
		name, src, want string
	}{
		{
			name: "typo in a step",
			src:  "dry_run: true\n" + head + "      - action: kubernetes.scale\n        parms: {step: 1}\n",
			want: ":8: field parms not found in type runbook.Step",
		},
		{
			name: "typo at the top level",
			src:  "dry_runn: true\n",
			want: ":1: field dry_runn not found in type config.Config",
		},
		{
			name: "unknown action",
			src:  "dry_run: true\n" + head + "      - action: kubernetes.nope\n",
			want: `:7: runbook "A": unknown action "kubernetes.nope" (known: kubernetes.configmap_keys, `,
		},
		{
			name: "user runbook named like a default is fine, twice is not",
			src: head + "      - action: kubernetes.rollout_restart\n" +
				"  - name: A\n    match: ['alertname=\"Y\"']\n    target: {kind: Redis}\n    resolve: [{action: redis.delete_keys, params: {pattern: 'x:*'}}]\n",
			want: `:7: runbook "A" is defined twice`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "remediator.yaml")
			if err := os.WriteFile(path, []byte(tc.src), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := config.Load(path, cat)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if want := path + tc.want; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Load error:\n  %s\nwant prefix:\n  %s", err, want)
			}
		})
	}
}

func TestConfigLoadOverridesDefault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "remediator.yaml")
	src := `runbooks:
  - name: HighCPUUsage
    match: ['alertname="HighCPUUsage"']
    target: {kind: Deployment, namespace: [namespace], name: [app]}
    resolve: [{action: kubernetes.rollout_restart}]
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, catalog(t))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range cfg.RunbookSet.Runbooks {
		names = append(names, r.Name)
	}
	want := "HighCPUUsage HighMemoryUsage PostgresTooManyConnections ServiceUnavailable EmergencyScaleDownCritical EmergencyScaleDown RedisCacheMaintenance"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("runbooks = %s, want %s", got, want)
	}
	r, err := cfg.RunbookSet.Match(map[string]string{"alertname": "HighCPUUsage"})
	if err != nil || actionNames(r.Resolve)[0] != "kubernetes.rollout_restart" || len(r.Resolve) != 1 {
		t.Errorf("HighCPUUsage is not the user's runbook: %v, %v", r, err)
	}
}

func TestFileErrorOther(t *testing.T) {
	err := runbook.FileError("remediator.yaml", errors.New("read failed"))
	if got := err.Error(); got != "remediator.yaml: read failed" {
		t.Errorf("FileError = %q", got)
	}
}
