package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/metadata/metadatatest"
)

func TestScansConformance(t *testing.T) {
	metadatatest.RunScans(t, func(t *testing.T) metadatatest.ScanStore {
		s := open(t, filepath.Join(t.TempDir(), "meta.db"))
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}
