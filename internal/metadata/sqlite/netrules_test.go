package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

func TestNetworkRulesRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "berth.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.NetworkRules(ctx); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("empty store: %v, want ErrNotFound", err)
	}
	if err := s.ClearNetworkRules(ctx); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("clear empty: %v, want ErrNotFound", err)
	}
	at := time.Unix(1700000000, 0).UTC()
	for _, spec := range []string{`{"default_action":"deny"}`, `{"default_action":"allow","deny":["10.0.0.0/8"]}`} {
		if err := s.SetNetworkRules(ctx, metadata.StoredNetworkRules{Spec: []byte(spec), Updated: at, UpdatedBy: "admin"}); err != nil {
			t.Fatal(err)
		}
	}
	// Survives a reopen: the rules outlive the process.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(ctx, path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.NetworkRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Spec) != `{"default_action":"allow","deny":["10.0.0.0/8"]}` || got.UpdatedBy != "admin" || !got.Updated.Equal(at) {
		t.Fatalf("got %+v", got)
	}
	if err := s.ClearNetworkRules(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NetworkRules(ctx); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("after clear: %v", err)
	}
}
