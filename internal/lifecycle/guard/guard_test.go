package guard

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

func TestCheckDelete(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	locked := digest.FromString("locked manifest")
	free := digest.FromString("free manifest")
	for _, l := range []metadata.Lock{
		{Repo: "frozen", WriteEnabled: true, DeleteEnabled: false, ReadEnabled: true},
		{Repo: "app", Tag: "v1", WriteEnabled: false, DeleteEnabled: true, ReadEnabled: true},
		{Repo: "app", Tag: "readonly", WriteEnabled: true, DeleteEnabled: true, ReadEnabled: false},
		{Repo: "app", Digest: locked, WriteEnabled: true, DeleteEnabled: false, ReadEnabled: true},
	} {
		if err := st.SetLock(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.AddImmutableRule(ctx, metadata.ImmutableRule{Repos: "app|team/.*", Tags: "release-.*"}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		repo   string
		tags   []string
		digest digest.Digest
		want   string // "" = allowed; else a part of the refusal
	}{
		{"unlocked tag", "app", []string{"v2"}, "", ""},
		{"write-locked tag", "app", []string{"v1"}, "", "tag app:v1 is locked (write-enabled=false)"},
		{"a read lock does not stop deletion", "app", []string{"readonly"}, "", ""},
		{"delete-locked manifest", "app", nil, locked, "manifest app@" + locked.String() + " is locked (delete-enabled=false)"},
		{"manifest carrying a locked tag", "app", []string{"v2", "v1"}, free, "tag app:v1 is locked"},
		{"repository lock covers everything", "frozen", []string{"anything"}, free, "repository frozen is locked (delete-enabled=false)"},
		{"immutable tag", "app", []string{"release-1"}, "", "tag app:release-1 is immutable (rule 1"},
		{"rule matches the whole repository name", "team/x", []string{"release-2"}, "", "is immutable"},
		{"rule does not match a longer name", "apps", []string{"release-1"}, "", ""},
		{"rule does not match a tag prefix only", "app", []string{"prerelease-1"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls, err := Load(ctx, st, tt.repo)
			if err != nil {
				t.Fatal(err)
			}
			err = ls.CheckDelete(tt.tags, tt.digest)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckDelete = %v, want allowed", err)
				}
				return
			}
			if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckDelete = %v, want ErrDenied containing %q", err, tt.want)
			}
		})
	}
}
