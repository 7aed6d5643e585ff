package fsblob

import (
	"context"
	"testing"

	"github.com/berth-registry/berth/internal/storage"
	"github.com/berth-registry/berth/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"sync", Options{}},
		{"nosync", Options{NoSync: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Store {
				return openStore(t, t.TempDir(), tc.opts)
			})
		})
	}
}

func openStore(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
