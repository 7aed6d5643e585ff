package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/metadata/metadatatest"
)

func TestPolicies(t *testing.T) {
	metadatatest.RunPolicies(t, func(t *testing.T) metadatatest.PolicyStore {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
