package policies_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/remediator/remediator/policies"
	"github.com/remediator/remediator/remediations"
)

var benchCases = []struct {
	name string
	in   func() policies.Input
}{
	{"allow", baseInput},
	{"deny_protected", func() policies.Input {
		in := baseInput()
		in.Target.Namespace = "kube-system"
		return in
	}},
	{"lowered_params", func() policies.Input {
		in := baseInput()
		in.Action = policies.ActionInput{Name: "kubernetes.set_resources", Params: remediations.Params{"resource": "memory", "factor": 1.5, "max": "64Gi"}}
		return in
	}},
}

// BenchmarkDecide measures one decision with the bundled policy, and reports
// the p50 and p99 of the per-call latency next to the mean (ns/op).
func BenchmarkDecide(b *testing.B) {
	e, err := policies.New(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	benchDecide(b, e)
}

// BenchmarkEngineFloor is BenchmarkDecide with a policy that does nothing but
// return a constant decision: the cost of the engine itself (input
// conversion, query set-up, result conversion), for comparison.
func BenchmarkEngineFloor(b *testing.B) {
	dir := b.TempDir()
	const trivial = "package remediator\n\ndecision := {\"allow\": true, \"reasons\": [\"allowed\"], \"params\": input.action.params, \"codes\": []}\n"
	if err := os.WriteFile(filepath.Join(dir, "trivial.rego"), []byte(trivial), 0o600); err != nil {
		b.Fatal(err)
	}
	e, err := policies.New(context.Background(), policies.WithDir(dir), policies.WithoutBundled())
	if err != nil {
		b.Fatal(err)
	}
	benchDecide(b, e)
}

func benchDecide(b *testing.B, e *policies.Engine) {
	for _, c := range benchCases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			in := c.in()
			var lat []time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if _, err := e.Decide(ctx, in); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}
