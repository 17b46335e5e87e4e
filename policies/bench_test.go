package policies_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/remediator/remediator/policies"
	"github.com/remediator/remediator/remediations"
)

// BenchmarkDecide measures one decision with the bundled policy, and reports
// the p50 and p99 of the per-call latency next to the mean (ns/op).
func BenchmarkDecide(b *testing.B) {
	cases := []struct {
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
	e, err := policies.New(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			in := c.in()
			lat := make([]time.Duration, 0, b.N)
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
