package metadatatest

import (
	"context"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
)

// RunCursors checks a backend's metadata.Cursors. open must return a new,
// empty store for each call. Beyond the interface comments it pins down:
// cursors are independent per name and a saved cursor may move backwards
// (an operator replaying events).
func RunCursors(t *testing.T, open func(t *testing.T) metadata.Cursors) {
	ctx := context.Background()
	s := open(t)
	steps := []struct {
		name string
		save int64 // 0: only load
		want int64
	}{
		{name: "audit", want: 0},
		{name: "audit", save: 7, want: 7},
		{name: "scan", want: 0},
		{name: "scan", save: 3, want: 3},
		{name: "audit", save: 12, want: 12},
		{name: "audit", save: 5, want: 5},
		{name: "scan", want: 3},
	}
	for i, st := range steps {
		if st.save != 0 {
			if err := s.SaveCursor(ctx, st.name, st.save); err != nil {
				t.Fatalf("step %d: SaveCursor(%s, %d): %v", i, st.name, st.save, err)
			}
		}
		got, err := s.LoadCursor(ctx, st.name)
		if err != nil || got != st.want {
			t.Errorf("step %d: LoadCursor(%s) = %d, %v; want %d", i, st.name, got, err, st.want)
		}
	}
}
