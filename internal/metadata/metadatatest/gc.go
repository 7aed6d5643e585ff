package metadatatest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// GCStore is a backend with the garbage collector's and quotas' roles.
type GCStore interface {
	metadata.Store
	metadata.Collection
	metadata.GCHistory
	metadata.BlobUsage
	metadata.CheckedLinker
	metadata.TrashUsage
}

// RunGC checks the Collection, GCHistory, BlobUsage and TrashUsage roles. Beyond the
// interface comments it pins down that a condemned blob cannot be linked
// until released, that condemning removes every link of the blob, and that
// a manifest keeps its blobs live whatever the age of their links.
func RunGC(t *testing.T, open func(t *testing.T) GCStore) {
	t.Run("Liveness", func(t *testing.T) { testLiveness(t, open(t)) })
	t.Run("Condemn", func(t *testing.T) { testCondemn(t, open(t)) })
	t.Run("History", func(t *testing.T) { testGCHistory(t, open(t)) })
	t.Run("Usage", func(t *testing.T) { testBlobUsage(t, open(t)) })
	t.Run("CheckedLink", func(t *testing.T) { testCheckedLink(t, open(t)) })
	t.Run("TrashUsage", func(t *testing.T) { testTrashUsage(t, open(t)) })
}

func gcDigest(s string) digest.Digest { return digest.FromString(s) }

func live(t *testing.T, s GCStore, since time.Time) []digest.Digest {
	t.Helper()
	var out []digest.Digest
	if err := s.LiveBlobs(context.Background(), since, func(d digest.Digest) error {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
		return nil
	}); err != nil {
		t.Fatalf("LiveBlobs: %v", err)
	}
	slices.Sort(out)
	return out
}

func pushImage(t *testing.T, s GCStore, repo, tag string, blobs ...digest.Digest) digest.Digest {
	t.Helper()
	ctx := context.Background()
	for _, b := range blobs {
		if err := s.LinkBlob(ctx, repo, b, 10); err != nil {
			t.Fatalf("LinkBlob: %v", err)
		}
	}
	m := &metadata.Manifest{Repo: repo, Digest: gcDigest(repo + tag), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Size: 2, Content: []byte("{}"), Blobs: blobs}
	if err := s.PutManifest(ctx, m, []string{tag}); err != nil {
		t.Fatalf("PutManifest: %v", err)
	}
	return m.Digest
}

func testLiveness(t *testing.T, s GCStore) {
	ctx := context.Background()
	ref, orphan := gcDigest("ref"), gcDigest("orphan")
	m := pushImage(t, s, "a", "v1", ref)
	if err := s.LinkBlob(ctx, "a", orphan, 5); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	past := time.Now().Add(-time.Hour)
	tests := []struct {
		name  string
		since time.Time
		want  []digest.Digest
	}{
		{"fresh links are live", past, sorted(ref, orphan)},
		{"old orphan links are not", future, []digest.Digest{ref}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := live(t, s, tc.since); !slices.Equal(got, tc.want) {
				t.Errorf("live = %v, want %v", got, tc.want)
			}
		})
	}
	// A deleted manifest no longer keeps its blobs.
	if _, err := s.DeleteManifest(ctx, "a", m); err != nil {
		t.Fatal(err)
	}
	if got := live(t, s, future); len(got) != 0 {
		t.Errorf("after manifest delete, live = %v, want none", got)
	}
}

func sorted(ds ...digest.Digest) []digest.Digest { slices.Sort(ds); return ds }

func testCondemn(t *testing.T, s GCStore) {
	ctx := context.Background()
	ref, orphan, other := gcDigest("ref"), gcDigest("orphan"), gcDigest("other")
	pushImage(t, s, "a", "v1", ref)
	for _, repo := range []string{"a", "b"} {
		if err := s.LinkBlob(ctx, repo, orphan, 5); err != nil {
			t.Fatal(err)
		}
	}
	future := time.Now().Add(time.Hour)
	got, err := s.CondemnBlobs(ctx, []digest.Digest{ref, orphan, other}, future)
	if err != nil {
		t.Fatal(err)
	}
	if want := sorted(orphan, other); !slices.Equal(sorted(got...), want) {
		t.Fatalf("condemned %v, want %v (a manifest's blob must survive)", got, want)
	}
	for _, repo := range []string{"a", "b"} {
		if _, err := s.StatBlob(ctx, repo, orphan); !errors.Is(err, metadata.ErrNotFound) {
			t.Errorf("StatBlob(%s) after condemn = %v, want ErrNotFound", repo, err)
		}
	}
	if _, err := s.StatBlob(ctx, "a", ref); err != nil {
		t.Errorf("referenced blob lost its link: %v", err)
	}
	if err := s.LinkBlob(ctx, "c", orphan, 5); !errors.Is(err, metadata.ErrBlobCollecting) {
		t.Errorf("LinkBlob of a condemned blob = %v, want ErrBlobCollecting", err)
	}
	c, err := s.Condemned(ctx)
	if err != nil || !slices.Equal(c, sorted(orphan, other)) {
		t.Errorf("Condemned = %v, %v", c, err)
	}
	if err := s.ReleaseBlobs(ctx, []digest.Digest{orphan, other}); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkBlob(ctx, "c", orphan, 5); err != nil {
		t.Errorf("LinkBlob after release: %v", err)
	}
	// A fresh link keeps a blob out of the next condemnation.
	got, err = s.CondemnBlobs(ctx, []digest.Digest{orphan}, time.Now().Add(-time.Minute))
	if err != nil || len(got) != 0 {
		t.Errorf("CondemnBlobs of a freshly linked blob = %v, %v; want none", got, err)
	}
}

func testGCHistory(t *testing.T, s GCStore) {
	ctx := context.Background()
	start := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		r := metadata.GCRun{Started: start.Add(time.Duration(i) * time.Hour), Finished: start.Add(time.Duration(i)*time.Hour + time.Second),
			Grace: time.Hour, Scanned: 10, Blobs: i, Bytes: int64(100 * i), DryRun: i == 1}
		if _, err := s.RecordGCRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	runs, err := s.GCRuns(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].Blobs != 2 || runs[1].Blobs != 1 || !runs[1].DryRun || runs[0].Bytes != 200 ||
		runs[0].Grace != time.Hour || !runs[0].Started.Equal(start.Add(2*time.Hour)) {
		t.Errorf("GCRuns = %+v", runs)
	}
	evs, err := s.PendingEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.Type == metadata.EventGCCompleted {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d gc.completed events, want 3", n)
	}
}

func testBlobUsage(t *testing.T, s GCStore) {
	ctx := context.Background()
	shared, own := gcDigest("shared"), gcDigest("own")
	for _, l := range []struct {
		repo string
		d    digest.Digest
		size int64
	}{{"a", shared, 100}, {"b", shared, 100}, {"a", own, 7}} {
		if err := s.LinkBlob(ctx, l.repo, l.d, l.size); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		repo string
		want int64
	}{{"a", 107}, {"b", 100}, {"missing", 0}}
	for _, tc := range tests {
		t.Run(tc.repo, func(t *testing.T) {
			if n, err := s.RepoBytes(ctx, tc.repo); err != nil || n != tc.want {
				t.Errorf("RepoBytes = %d, %v; want %d", n, err, tc.want)
			}
		})
	}
	if n, err := s.LinkedBytes(ctx); err != nil || n != 107 {
		t.Errorf("LinkedBytes = %d, %v; want 107", n, err)
	}
	var links []string
	if err := s.RepoLinks(ctx, func(repo string, d digest.Digest, size int64) error {
		links = append(links, repo)
		return nil
	}); err != nil || !slices.Equal(links, []string{"a", "a", "b"}) {
		t.Errorf("RepoLinks repos = %v, %v", links, err)
	}
}

func testCheckedLink(t *testing.T, s GCStore) {
	ctx := context.Background()
	d := gcDigest("checked")
	errGone := errors.New("bytes gone")
	if err := s.LinkBlobChecked(ctx, "a", d, 1, func(context.Context) error { return errGone }); !errors.Is(err, errGone) {
		t.Errorf("failing check: %v", err)
	}
	if _, err := s.StatBlob(ctx, "a", d); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("a failed check linked the blob: %v", err)
	}
	if err := s.LinkBlobChecked(ctx, "a", d, 1, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n, err := s.StatBlob(ctx, "a", d); err != nil || n != 1 {
		t.Errorf("StatBlob = %d, %v", n, err)
	}
	if _, err := s.CondemnBlobs(ctx, []digest.Digest{d}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	called := false
	err := s.LinkBlobChecked(ctx, "a", d, 1, func(context.Context) error { called = true; return nil })
	if !errors.Is(err, metadata.ErrBlobCollecting) || called {
		t.Errorf("condemned blob: err %v, check called %v", err, called)
	}
}
