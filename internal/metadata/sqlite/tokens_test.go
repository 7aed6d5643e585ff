package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

func TestScopedTokens(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "berth.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tok := &metadata.ScopedToken{Name: "ci", Creator: "alice", Hash1: "h1", Hash2: "h2", CIDRs: []string{"10.0.0.0/8"}, Expires: exp,
		Grants: []metadata.TokenGrant{{Pattern: "team/*", Actions: []string{"pull", "push"}}}}
	if err := s.CreateScopedToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateScopedToken(ctx, tok); !errors.Is(err, metadata.ErrExists) {
		t.Errorf("second create: %v, want ErrExists", err)
	}
	got, err := s.ScopedToken(ctx, "ci")
	if err != nil || got.Creator != "alice" || got.Hash2 != "h2" || !got.Expires.Equal(exp) || got.CIDRs[0] != "10.0.0.0/8" ||
		got.Grants[0].Actions[1] != "push" || !got.LastUsed.IsZero() || got.Created.IsZero() {
		t.Fatalf("read back %+v, %v", got, err)
	}
	got.Hash1, got.Disabled, got.Expires = "h1b", true, time.Time{}
	if err := s.UpdateScopedToken(ctx, got); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.ScopedToken(ctx, "ci"); got.Hash1 != "h1b" || !got.Disabled || !got.Expires.IsZero() || got.Creator != "alice" {
		t.Errorf("after update %+v", got)
	}
	t1 := time.Unix(1_900_000_000, 0).UTC()
	for _, at := range []time.Time{t1, t1.Add(-time.Hour)} { // never moved back
		if err := s.TouchScopedTokens(ctx, map[string]time.Time{"ci": at, "gone": at}); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ = s.ScopedToken(ctx, "ci"); !got.LastUsed.Equal(t1) {
		t.Errorf("last used %v, want %v", got.LastUsed, t1)
	}
	if list, err := s.ListScopedTokens(ctx); err != nil || len(list) != 1 {
		t.Errorf("list: %v %v", list, err)
	}
	if err := s.DeleteScopedToken(ctx, "ci"); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{s.DeleteScopedToken(ctx, "ci"), s.UpdateScopedToken(ctx, tok)} {
		if !errors.Is(err, metadata.ErrNotFound) {
			t.Errorf("on a deleted token: %v, want ErrNotFound", err)
		}
	}
	if _, err := s.ScopedToken(ctx, "ci"); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("get deleted: %v", err)
	}
}
