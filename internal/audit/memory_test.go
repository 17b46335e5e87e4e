package audit_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/remediator/remediator/internal/audit"
	"github.com/remediator/remediator/internal/dispatch"
)

func TestMemoryKeepsNewestInOrder(t *testing.T) {
	tests := []struct {
		limit, records int
		want           []string
	}{
		{limit: 3, records: 0, want: []string{}},
		{limit: 3, records: 2, want: []string{"0", "1"}},
		{limit: 3, records: 3, want: []string{"0", "1", "2"}},
		{limit: 3, records: 7, want: []string{"4", "5", "6"}},
		{limit: 0, records: 2, want: []string{"1"}}, // a limit below 1 keeps one
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("limit %d records %d", tc.limit, tc.records), func(t *testing.T) {
			m := audit.NewMemory(tc.limit)
			for i := range tc.records {
				if err := m.Record(context.Background(), dispatch.Outcome{Alert: dispatch.AlertRef{Fingerprint: fmt.Sprint(i)}}); err != nil {
					t.Fatal(err)
				}
			}
			got := []string{}
			for _, o := range m.List() {
				got = append(got, o.Alert.Fingerprint)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("List = %q, want %q", got, tc.want)
			}
		})
	}
}
