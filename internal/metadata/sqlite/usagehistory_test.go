package sqlite_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

func TestUsageHistory(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "berth.db"))
	ctx := t.Context()
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		if err := s.RecordUsage(ctx, metadata.UsageSample{At: day.AddDate(0, 0, i), StoredBytes: int64(100 * i), TrashBytes: 7}); err != nil {
			t.Fatal(err)
		}
	}
	// The same instant again replaces the sample.
	if err := s.RecordUsage(ctx, metadata.UsageSample{At: day.AddDate(0, 0, 4), StoredBytes: 999}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		since time.Time
		n     int
		want  []int64 // stored bytes, oldest first
	}{
		{"all", time.Time{}, 0, []int64{0, 100, 200, 300, 999}},
		{"since", day.AddDate(0, 0, 3), 0, []int64{300, 999}},
		{"newest n", time.Time{}, 2, []int64{300, 999}},
	}
	for _, tt := range tests {
		got, err := s.UsageSamples(ctx, tt.since, tt.n)
		if err != nil {
			t.Fatal(err)
		}
		var bytes []int64
		for _, u := range got {
			bytes = append(bytes, u.StoredBytes)
		}
		if len(bytes) != len(tt.want) {
			t.Fatalf("%s: %v, want %v", tt.name, bytes, tt.want)
		}
		for i := range bytes {
			if bytes[i] != tt.want[i] {
				t.Fatalf("%s: %v, want %v", tt.name, bytes, tt.want)
			}
		}
		if tt.name == "all" && (!got[1].At.Equal(day.AddDate(0, 0, 1)) || got[1].TrashBytes != 7) {
			t.Errorf("sample %+v", got[1])
		}
	}
	n, err := s.PruneUsage(ctx, day.AddDate(0, 0, 2))
	if err != nil || n != 2 {
		t.Fatalf("PruneUsage = %d, %v; want 2", n, err)
	}
	if got, _ := s.UsageSamples(ctx, time.Time{}, 0); len(got) != 3 {
		t.Errorf("after pruning: %d samples, want 3", len(got))
	}
}
