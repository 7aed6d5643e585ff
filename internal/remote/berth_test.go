package remote_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/retention"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/remote"
	"github.com/berth-registry/berth/internal/server/servertest"
)

// startBerth serves a real Berth on 127.0.0.1 with stores in a temp dir.
func startBerth(t *testing.T, pageSize int) *remote.Client {
	t.Helper()
	cfg := servertest.Config(t)
	if pageSize > 0 {
		cfg.Limits.MaxPageSize = pageSize
	}
	s := servertest.Start(t, cfg)
	c, err := remote.New(s.URL(), remote.Options{MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pushImage pushes a one-layer image named by seed and tags it.
func pushImage(t *testing.T, c *remote.Client, repo, seed string, tags ...string) digest.Digest {
	t.Helper()
	ctx := context.Background()
	cfg, err := c.PushBlob(ctx, repo, []byte(`{"seed":"`+seed+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := c.PushBlob(ctx, repo, []byte("layer "+seed))
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		oci.MediaTypeImageManifest, cfg, len(`{"seed":"`+seed+`"}`), layer, len("layer "+seed))
	d := digest.FromBytes(body)
	refs := tags
	if len(refs) == 0 {
		refs = []string{d.String()}
	}
	for _, ref := range refs {
		if _, err := c.PushManifest(ctx, repo, ref, oci.MediaTypeImageManifest, body); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestListingsPageThroughLinks(t *testing.T) {
	c := startBerth(t, 2)
	ctx := context.Background()
	want := []string{"a", "b", "c", "d", "e"}
	for _, tag := range want {
		pushImage(t, c, "team/app", tag, tag)
	}
	pushImage(t, c, "other", "x", "v1")

	tags, err := c.Tags(ctx, "team/app", 2)
	if err != nil || !slices.Equal(tags, want) {
		t.Errorf("Tags = %v, %v; want %v", tags, err, want)
	}
	var repos []string
	if err := c.Catalog(ctx, 1, func(names []string) error { repos = append(repos, names...); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(repos, []string{"other", "team/app"}) {
		t.Errorf("Catalog = %v", repos)
	}
	src := remote.NewSource(c)
	names, err := src.Repositories(ctx)
	if err != nil || !slices.Equal(names, []string{"other", "team/app"}) {
		t.Errorf("Repositories = %v, %v", names, err)
	}
	rt, err := src.Tags(ctx, "team/app")
	if err != nil || len(rt) != 5 {
		t.Fatalf("Source.Tags = %d, %v", len(rt), err)
	}
	for _, tg := range rt {
		if tg.PushedAt.IsZero() || tg.Digest == "" {
			t.Errorf("tag %+v lacks facts", tg)
		}
	}
	ms, err := src.Manifests(ctx, "team/app")
	if err != nil || len(ms) != 5 {
		t.Fatalf("Source.Manifests = %d, %v", len(ms), err)
	}
	for _, m := range ms {
		if len(m.Blobs) != 2 || m.Size == 0 || m.PushedAt.IsZero() {
			t.Errorf("manifest %+v lacks facts", m)
		}
	}
	if _, err := src.Tags(ctx, "missing"); !errors.Is(err, retention.ErrNotFound) {
		t.Errorf("Tags(missing) err = %v, want ErrNotFound", err)
	}
}

func TestSourceCheckAndDelete(t *testing.T) {
	c := startBerth(t, 0)
	ctx := context.Background()
	src := remote.NewSource(c)
	// Neighbours on both sides of the names and digests looked up, so
	// that a lookup landing on the wrong entry would show.
	d1 := pushImage(t, c, "app", "one", "v1", "v1-", "v0zzz", "latest")
	d2 := pushImage(t, c, "app", "two", "v10", "v1.0")
	untagged := pushImage(t, c, "app", "three")

	head, err := c.HeadManifest(ctx, "app", "v1")
	if err != nil || head.Digest != d1 || head.MediaType != oci.MediaTypeImageManifest || head.Size == 0 {
		t.Fatalf("HeadManifest = %+v, %v", head, err)
	}
	got, body, err := c.GetManifest(ctx, "app", d2.String())
	if err != nil || got.Digest != d2 || digest.FromBytes(body) != d2 {
		t.Fatalf("GetManifest = %+v, %v", got, err)
	}

	tests := []struct {
		name   string
		tag    string
		digest digest.Digest
		err    error
	}{
		{"exact", "v1", d1, nil},
		{"with dash", "v1-", d1, nil},
		{"dotted", "v1.0", d2, nil},
		{"longer", "v10", d2, nil},
		{"absent between neighbours", "v1_", "", retention.ErrNotFound},
		{"absent after all", "zzz", "", retention.ErrNotFound},
		{"invalid", "-x", "", retention.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run("Tag "+tt.name, func(t *testing.T) {
			tg, err := src.Tag(ctx, "app", tt.tag)
			if !errors.Is(err, tt.err) || (tt.err == nil && (tg.Name != tt.tag || tg.Digest != tt.digest || tg.PushedAt.IsZero())) {
				t.Errorf("Tag(%q) = %+v, %v", tt.tag, tg, err)
			}
		})
	}
	mtests := []struct {
		name string
		d    digest.Digest
		tags []string
		err  error
	}{
		{"tagged", d1, []string{"latest", "v0zzz", "v1", "v1-"}, nil},
		{"other", d2, []string{"v1.0", "v10"}, nil},
		{"untagged", untagged, []string{}, nil},
		{"unknown", digest.FromString("nope"), nil, retention.ErrNotFound},
	}
	for _, tt := range mtests {
		t.Run("ManifestTags "+tt.name, func(t *testing.T) {
			tags, err := src.ManifestTags(ctx, "app", tt.d)
			if !errors.Is(err, tt.err) || (tt.err == nil && !slices.Equal(tags, tt.tags)) {
				t.Errorf("ManifestTags = %v, %v; want %v, %v", tags, err, tt.tags, tt.err)
			}
		})
	}

	if err := src.DeleteTag(ctx, "app", "v1"); err != nil {
		t.Fatal(err)
	}
	if err := src.DeleteTag(ctx, "app", "v1"); !errors.Is(err, retention.ErrNotFound) {
		t.Errorf("second DeleteTag err = %v, want ErrNotFound", err)
	}
	if err := src.DeleteManifest(ctx, "app", untagged); err != nil {
		t.Fatal(err)
	}
	if err := src.DeleteManifest(ctx, "app", untagged); !errors.Is(err, retention.ErrNotFound) {
		t.Errorf("second DeleteManifest err = %v, want ErrNotFound", err)
	}
	left, err := c.Tags(ctx, "app", 0)
	if err != nil || !slices.Equal(left, []string{"latest", "v0zzz", "v1-", "v1.0", "v10"}) {
		t.Errorf("tags left = %v, %v", left, err)
	}
	if _, err := c.HeadManifest(ctx, "app", untagged.String()); !remote.IsNotFound(err) {
		t.Errorf("deleted manifest HEAD err = %v", err)
	}
}
