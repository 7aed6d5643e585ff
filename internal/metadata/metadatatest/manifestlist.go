package metadatatest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

func testListManifests(t *testing.T, open func(t *testing.T) metadata.Store) {
	f := newFixture(t, open)
	a := f.image("r", "a", at(1), "v1", "latest")
	b := f.image("r", "b", at(2))
	idx := index("r", "idx", a, b)
	idx.PushedAt = at(3)
	f.put(idx, "multi")
	sig := manifest("r", "sig")
	sig.Subject, sig.ArtifactType, sig.PushedAt = a.Digest, "application/vnd.dev.cosign", at(4)
	f.put(sig)
	f.image("other", "x", at(5), "v1")
	if err := f.s.RecordPulls(f.ctx, []metadata.Pull{{Repo: "r", Digest: b.Digest, At: at(9)}}); err != nil {
		t.Fatal(err)
	}

	all, err := f.s.ListManifests(f.ctx, "r", metadata.Page{})
	if err != nil {
		t.Fatal(err)
	}
	want := []digest.Digest{a.Digest, b.Digest, idx.Digest, sig.Digest}
	slices.Sort(want)
	var got []digest.Digest
	byDigest := map[digest.Digest]metadata.ManifestInfo{}
	for _, m := range all {
		got = append(got, m.Digest)
		byDigest[m.Digest] = m
	}
	if !slices.Equal(got, want) {
		t.Fatalf("ListManifests digests = %v, want %v in digest order", got, want)
	}

	children := []digest.Digest{a.Digest, b.Digest}
	slices.Sort(children)
	tests := []struct {
		name  string
		d     digest.Digest
		check func(m metadata.ManifestInfo) string
	}{
		{"tags sorted", a.Digest, func(m metadata.ManifestInfo) string {
			if !slices.Equal(m.Tags, []string{"latest", "v1"}) {
				return "tags " + strings.Join(m.Tags, ",")
			}
			return ""
		}},
		{"untagged has empty non-nil tags", b.Digest, func(m metadata.ManifestInfo) string {
			if m.Tags == nil || len(m.Tags) != 0 {
				return "tags not empty"
			}
			return ""
		}},
		{"blobs with sizes", a.Digest, func(m metadata.ManifestInfo) string {
			if len(m.Blobs) != 2 || m.Blobs[0].Size+m.Blobs[1].Size != 1100 ||
				strings.Compare(string(m.Blobs[0].Digest), string(m.Blobs[1].Digest)) >= 0 {
				return "blobs wrong"
			}
			return ""
		}},
		{"facts", a.Digest, func(m metadata.ManifestInfo) string {
			if m.Repo != "r" || m.MediaType != a.MediaType || m.Size != a.Size || !m.PushedAt.Equal(at(1)) || !m.LastPulledAt.IsZero() {
				return "facts wrong"
			}
			return ""
		}},
		{"last pulled", b.Digest, func(m metadata.ManifestInfo) string {
			if !m.LastPulledAt.Equal(at(9)) {
				return "last pulled " + m.LastPulledAt.String()
			}
			return ""
		}},
		{"index children", idx.Digest, func(m metadata.ManifestInfo) string {
			if !slices.Equal(m.Children, children) || !slices.Equal(m.Tags, []string{"multi"}) || len(m.Blobs) != 0 {
				return "index wrong"
			}
			return ""
		}},
		{"subject", sig.Digest, func(m metadata.ManifestInfo) string {
			if m.Subject != a.Digest || m.ArtifactType != sig.ArtifactType {
				return "subject wrong"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := byDigest[tt.d]
			if !ok {
				t.Fatal("manifest not listed")
			}
			if msg := tt.check(m); msg != "" {
				t.Errorf("%s: %+v", msg, m)
			}
		})
	}

	t.Run("paging", func(t *testing.T) {
		var walked []digest.Digest
		p := metadata.Page{N: 3}
		for range 5 {
			page, err := f.s.ListManifests(f.ctx, "r", p)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, m := range page {
				walked = append(walked, m.Digest)
			}
			p.Last = string(page[len(page)-1].Digest)
		}
		if !slices.Equal(walked, want) {
			t.Errorf("walked %v, want %v", walked, want)
		}
	})
	t.Run("unknown repository", func(t *testing.T) {
		_, err := f.s.ListManifests(f.ctx, "nope", metadata.Page{})
		if !errors.Is(err, metadata.ErrRepoNotFound) {
			t.Errorf("err = %v, want ErrRepoNotFound", err)
		}
	})
	t.Run("deleted manifest leaves the listing", func(t *testing.T) {
		if _, err := f.s.DeleteManifest(f.ctx, "r", sig.Digest); err != nil {
			t.Fatal(err)
		}
		page, err := f.s.ListManifests(f.ctx, "r", metadata.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != 3 || slices.ContainsFunc(page, func(m metadata.ManifestInfo) bool { return m.Digest == sig.Digest }) {
			t.Errorf("after delete: %d manifests", len(page))
		}
	})
}
