package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/metadatatest"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

func TestUsersConformance(t *testing.T) {
	metadatatest.RunUsers(t, func(t *testing.T) metadata.Users {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "berth.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
