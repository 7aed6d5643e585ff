package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/metadatatest"
)

func TestAuditConformance(t *testing.T) {
	metadatatest.RunAudit(t, func(t *testing.T) metadata.AuditLog {
		s := open(t, filepath.Join(t.TempDir(), "meta.db"))
		t.Cleanup(func() { s.Close() })
		return s
	})
}
