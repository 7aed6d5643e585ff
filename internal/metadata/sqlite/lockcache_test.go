package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
)

// ListLocks answers from memory, and every lock change through the Store
// is seen by the next call.
func TestLockCache(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "berth.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	count := func() int {
		t.Helper()
		ls, err := s.ListLocks(ctx, "team/app")
		if err != nil {
			t.Fatal(err)
		}
		return len(ls)
	}
	steps := []struct {
		name string
		do   func() error
		want int
	}{
		{"empty", func() error { return nil }, 0},
		{"set is seen at once", func() error { return s.SetLock(ctx, metadata.Lock{Repo: "team/app", Tag: "v1"}) }, 1},
		{"second lock", func() error { return s.SetLock(ctx, metadata.Lock{Repo: "team/app", Tag: "v2", ReadEnabled: true}) }, 2},
		{"another repository's lock leaves the count", func() error { return s.SetLock(ctx, metadata.Lock{Repo: "other"}) }, 2},
		{"a write behind the Store's back is not seen within the TTL", func() error {
			_, err := s.w.ExecContext(ctx, `DELETE FROM locks WHERE repo = 'team/app' AND tag = 'v1'`)
			return err
		}, 2},
		{"a change through the Store refreshes", func() error { return s.ClearLock(ctx, "team/app", "v2", "") }, 0},
		{"answers are copies", func() error {
			if err := s.SetLock(ctx, metadata.Lock{Repo: "team/app", Tag: "v3"}); err != nil {
				return err
			}
			ls, _ := s.ListLocks(ctx, "team/app")
			ls[0].Repo = "mutated"
			return nil
		}, 1},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := count(); got != st.want {
			t.Errorf("%s: %d locks, want %d", st.name, got, st.want)
		}
	}
	if ls, _ := s.ListLocks(ctx, "team/app"); ls[0].Repo != "team/app" {
		t.Errorf("a caller's change reached the cache: %+v", ls)
	}
	if ls, _ := s.ListLocks(ctx, ""); len(ls) != 2 {
		t.Errorf("every repository's locks: %d, want 2 (read fresh)", len(ls))
	}
}
