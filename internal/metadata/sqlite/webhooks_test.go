package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/metadata/metadatatest"
)

func TestWebhooksConformance(t *testing.T) {
	metadatatest.RunWebhooks(t, func(t *testing.T) metadatatest.WebhookStore {
		s := open(t, filepath.Join(t.TempDir(), "meta.db"))
		t.Cleanup(func() { s.Close() })
		return s
	})
}
