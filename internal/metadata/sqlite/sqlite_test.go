package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/metadatatest"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	metadatatest.Run(t, func(t *testing.T) metadata.Store {
		s := open(t, filepath.Join(t.TempDir(), "meta.db"))
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	s := open(t, path)
	layer := digest.FromString("layer")
	if err := s.LinkBlob(ctx, "lib/app", layer, 123); err != nil {
		t.Fatal(err)
	}
	content := []byte(`{"schemaVersion":2}`)
	m := &metadata.Manifest{Repo: "lib/app", Digest: digest.FromBytes(content), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Size: int64(len(content)), Content: content, Blobs: []digest.Digest{layer}}
	if err := s.PutManifest(ctx, m, []string{"v1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	defer s.Close()
	tests := []struct {
		name  string
		check func() error
	}{
		{"tag", func() error {
			got, err := s.TaggedManifest(ctx, "lib/app", "v1")
			if err == nil && (got.Digest != m.Digest || string(got.Content) != string(content)) {
				err = fmt.Errorf("got %s %q", got.Digest, got.Content)
			}
			return err
		}},
		{"blob", func() error {
			n, err := s.StatBlob(ctx, "lib/app", layer)
			if err == nil && n != 123 {
				err = fmt.Errorf("size %d", n)
			}
			return err
		}},
		{"events", func() error {
			evs, err := s.PendingEvents(ctx, 0, 0)
			if err == nil && len(evs) != 1 {
				err = fmt.Errorf("%d events", len(evs))
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.check(); err != nil {
				t.Error(err)
			}
		})
	}
	// New events continue the old sequence instead of restarting it.
	if err := s.DeleteTag(ctx, "lib/app", "v1"); err != nil {
		t.Fatal(err)
	}
	evs, err := s.PendingEvents(ctx, 0, 0)
	if err != nil || len(evs) != 2 || evs[1].ID <= evs[0].ID {
		t.Errorf("events after reopen = %+v, %v", evs, err)
	}
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	newer := filepath.Join(t.TempDir(), "newer.db")
	db, err := sql.Open("sqlite", newer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", sqlite.SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	tests := []struct{ name, path string }{
		{"schema newer than the binary", newer},
		{"empty path", ""},
		{"query in path", filepath.Join(t.TempDir(), "x.db?mode=ro")},
		{"directory missing", filepath.Join(t.TempDir(), "no", "such", "dir", "x.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := sqlite.Open(ctx, tt.path, sqlite.Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}

func TestCanceledContext(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "meta.db"))
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.LinkBlob(ctx, "r", digest.FromString("x"), 1); !errors.Is(err, context.Canceled) {
		t.Errorf("LinkBlob with canceled context = %v, want context.Canceled", err)
	}
	if _, err := s.StatBlob(context.Background(), "r", digest.FromString("x")); !errors.Is(err, metadata.ErrNotFound) {
		t.Errorf("blob written despite cancel: %v", err)
	}
}

// seed pushes n tagged single-layer images into repo.
func seed(b *testing.B, s *sqlite.Store, repo string, n int) []*metadata.Manifest {
	b.Helper()
	ctx := context.Background()
	var out []*metadata.Manifest
	for i := range n {
		layer := digest.FromString(fmt.Sprintf("layer %d", i))
		if err := s.LinkBlob(ctx, repo, layer, 1<<20); err != nil {
			b.Fatal(err)
		}
		content := fmt.Appendf(nil, `{"schemaVersion":2,"layers":[{"digest":%q}],"pad":"%0800d"}`, layer, i)
		m := &metadata.Manifest{Repo: repo, Digest: digest.FromBytes(content), MediaType: "application/vnd.oci.image.manifest.v1+json",
			Size: int64(len(content)), Content: content, Blobs: []digest.Digest{layer}}
		if err := s.PutManifest(ctx, m, []string{fmt.Sprintf("v%d", i)}); err != nil {
			b.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func BenchmarkTaggedManifest(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "meta.db"))
	defer s.Close()
	const n = 1000
	seed(b, s, "bench/app", n)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			tag := fmt.Sprintf("v%d", next.Add(1)%n)
			if _, err := s.TaggedManifest(ctx, "bench/app", tag); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkManifest(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "meta.db"))
	defer s.Close()
	ms := seed(b, s, "bench/app", 1000)
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			m := ms[next.Add(1)%int64(len(ms))]
			if _, err := s.Manifest(ctx, "bench/app", m.Digest); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkPutManifest(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "meta.db"))
	defer s.Close()
	ctx := context.Background()
	layer := digest.FromString("layer")
	for r := range 4 {
		if err := s.LinkBlob(ctx, fmt.Sprintf("bench/%d", r), layer, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			content := fmt.Appendf(nil, `{"schemaVersion":2,"n":%d,"pad":"%0800d"}`, i, i)
			m := &metadata.Manifest{Repo: fmt.Sprintf("bench/%d", i%4), Digest: digest.FromBytes(content),
				MediaType: "application/vnd.oci.image.manifest.v1+json", Size: int64(len(content)), Content: content,
				Blobs: []digest.Digest{layer}}
			if err := s.PutManifest(ctx, m, []string{fmt.Sprintf("t%d", i), "latest"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestPragmas checks the settings the durability and concurrency argument
// in the package doc rests on.
func TestPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	s := open(t, path)
	defer s.Close()
	// A foreign connection sees what is persistent in the file.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tests := []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"user_version", fmt.Sprint(sqlite.SchemaVersion)},
	}
	for _, tt := range tests {
		t.Run(tt.pragma, func(t *testing.T) {
			var got string
			if err := db.QueryRow("PRAGMA " + tt.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
}

// BenchmarkTagDetails lists the newest 100 of 2,000 tags with sizes, as the
// UI's repository page does.
func BenchmarkTagDetails(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "meta.db"))
	defer s.Close()
	seed(b, s, "bench/app", 2000)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		infos, err := s.TagDetails(ctx, "bench/app", metadata.OrderTimeDesc, metadata.Page{N: 100})
		if err != nil || len(infos) != 100 {
			b.Fatalf("TagDetails = %d, %v", len(infos), err)
		}
	}
}

// BenchmarkRecordPulls records batches of 100 pulls, as a pull-recording
// batcher would flush them.
func BenchmarkRecordPulls(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "meta.db"))
	defer s.Close()
	ms := seed(b, s, "bench/app", 1000)
	ctx := context.Background()
	batch := make([]metadata.Pull, 100)
	at := time.Now()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for j := range batch {
			at = at.Add(time.Millisecond)
			batch[j] = metadata.Pull{Repo: "bench/app", Digest: ms[(i*100+j)%len(ms)].Digest, At: at}
		}
		if err := s.RecordPulls(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTwoStoresOneFile stands in for two processes (a server and a CLI
// verb) writing one database: busy_timeout and BEGIN IMMEDIATE must make
// them queue instead of failing with SQLITE_BUSY.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	stores := []*sqlite.Store{open(t, path), open(t, path)}
	defer stores[0].Close()
	defer stores[1].Close()
	ctx := context.Background()
	const pushes = 40
	errs := make(chan error, len(stores))
	for i, s := range stores {
		go func() {
			for j := range pushes {
				d := digest.FromString(fmt.Sprintf("blob %d %d", i, j))
				if err := s.LinkBlob(ctx, "shared", d, 1); err != nil {
					errs <- err
					return
				}
				content := fmt.Appendf(nil, `{"store":%d,"n":%d}`, i, j)
				m := &metadata.Manifest{Repo: "shared", Digest: digest.FromBytes(content), MediaType: "application/vnd.oci.image.manifest.v1+json",
					Size: int64(len(content)), Content: content, Blobs: []digest.Digest{d}}
				if err := s.PutManifest(ctx, m, []string{fmt.Sprintf("s%d-%d", i, j), "latest"}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range stores {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	tags, err := stores[1].ListTags(ctx, "shared", metadata.Page{})
	if err != nil || len(tags) != 2*pushes+1 {
		t.Errorf("ListTags = %d tags, %v; want %d", len(tags), err, 2*pushes+1)
	}
	evs, err := stores[0].PendingEvents(ctx, 0, 0)
	if err != nil || len(evs) != 4*pushes {
		t.Errorf("PendingEvents = %d, %v; want %d", len(evs), err, 4*pushes)
	}
}
