package gc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/schedule"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/storage"
	"github.com/berth-registry/berth/internal/storage/fsblob"
)

// env is a collector over real stores in a temporary directory.
type env struct {
	t     testing.TB
	dir   string
	blobs *fsblob.Store
	meta  *sqlite.Store
	c     *Collector
}

func newTestEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	blobs, err := fsblob.Open(ctx, filepath.Join(dir, "blobs"), fsblob.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	meta, err := sqlite.Open(ctx, filepath.Join(dir, "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close(); blobs.Close() })
	return &env{t: t, dir: dir, blobs: blobs, meta: meta, c: New(blobs, meta, blobs, nil)}
}

// store writes content into the blob store without linking it.
func (e *env) store(content string) digest.Digest {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.blobs.Create(ctx, "r")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.blobs.Append(ctx, u.ID, 0, bytes.NewReader([]byte(content))); err != nil {
		e.t.Fatal(err)
	}
	d := digest.FromString(content)
	if _, err := e.blobs.Commit(ctx, u.ID, d); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// push stores and links content in repo.
func (e *env) push(repo, content string) digest.Digest {
	e.t.Helper()
	d := e.store(content)
	if err := e.meta.LinkBlob(context.Background(), repo, d, int64(len(content))); err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) manifest(repo, tag string, blobs ...digest.Digest) digest.Digest {
	e.t.Helper()
	body := []byte(`{"tag":"` + tag + `"}`)
	m := &metadata.Manifest{Repo: repo, Digest: digest.FromBytes(body), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Size: int64(len(body)), Content: body, Blobs: blobs}
	if err := e.meta.PutManifest(context.Background(), m, []string{tag}); err != nil {
		e.t.Fatal(err)
	}
	return m.Digest
}

// files lists the blob store: digest → size.
func (e *env) files() map[digest.Digest]int64 {
	e.t.Helper()
	out := map[digest.Digest]int64{}
	if err := e.blobs.Walk(context.Background(), func(d digest.Digest, n int64) error { out[d] = n; return nil }); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) exists(d digest.Digest) bool {
	_, err := e.blobs.Stat(context.Background(), d)
	return err == nil
}

func TestRun(t *testing.T) {
	tests := []struct {
		name  string
		grace time.Duration
		// later shifts the collector's clock, aging everything.
		later time.Duration
		// kept and gone name the blobs of the fixture below.
		kept, gone []string
	}{
		{"grace protects fresh blobs", time.Hour, 0, []string{"layer", "orphan", "unlinked", "trashed"}, nil},
		{"old garbage goes, manifests keep theirs", time.Hour, 2 * time.Hour,
			[]string{"layer", "trashed"}, []string{"orphan", "unlinked", "deleted"}},
		{"grace zero", 0, 0, []string{"layer", "trashed"}, []string{"orphan", "unlinked", "deleted"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			ctx := context.Background()
			ds := map[string]digest.Digest{
				"layer":    e.push("a", "layer"),
				"orphan":   e.push("a", "orphan"),
				"unlinked": e.store("unlinked"),
				"trashed":  e.push("b", "trashed"),
				"deleted":  e.push("a", "deleted"),
			}
			e.manifest("a", "v1", ds["layer"])
			e.manifest("b", "v1", ds["trashed"])
			if err := e.meta.UnlinkBlob(ctx, "a", ds["deleted"]); err != nil {
				t.Fatal(err)
			}
			if _, err := e.meta.TrashManifest(ctx, "b", digest.FromBytes([]byte(`{"tag":"v1"}`))); err != nil {
				t.Fatal(err)
			}
			e.c.now = func() time.Time { return time.Now().Add(tc.later) }
			before := e.files()
			res, err := e.c.Run(ctx, Options{Grace: tc.grace})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range tc.kept {
				if !e.exists(ds[k]) {
					t.Errorf("%s was collected", k)
				}
			}
			var bytesGone int64
			for _, k := range tc.gone {
				if e.exists(ds[k]) {
					t.Errorf("%s survived", k)
				}
				bytesGone += before[ds[k]]
			}
			if res.Blobs != len(tc.gone) || res.Bytes != bytesGone || res.Scanned != len(before) {
				t.Errorf("result = %+v, want %d blobs, %d bytes, %d scanned", res, len(tc.gone), bytesGone, len(before))
			}
			if len(tc.gone) > 0 {
				// A collected blob's links are gone with it, so no manifest
				// can be pushed on top of missing bytes.
				if _, err := e.meta.StatBlob(ctx, "a", ds["orphan"]); !errors.Is(err, metadata.ErrNotFound) {
					t.Errorf("orphan still linked: %v", err)
				}
			}
			if c, _ := e.meta.Condemned(ctx); len(c) != 0 {
				t.Errorf("tombstones left: %v", c)
			}
		})
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	e.push("a", "one")
	e.store("two")
	keep := e.push("a", "three")
	e.manifest("a", "v1", keep)
	u, err := e.blobs.Create(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	before := e.files()
	dry, err := e.c.Run(ctx, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if after := e.files(); !maps.Equal(before, after) {
		t.Fatalf("dry run changed the store: %v → %v", before, after)
	}
	if _, err := e.blobs.Status(ctx, u.ID); err != nil {
		t.Errorf("dry run cancelled an upload: %v", err)
	}
	if _, err := e.meta.StatBlob(ctx, "a", digest.FromString("one")); err != nil {
		t.Errorf("dry run unlinked a blob: %v", err)
	}
	real, err := e.c.Run(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if dry.Blobs != 2 || dry.Blobs != real.Blobs || dry.Bytes != real.Bytes || dry.Uploads != 1 || real.Uploads != 1 {
		t.Errorf("dry run %+v, real run %+v: want the same 2 blobs and 1 upload", dry, real)
	}
	if _, err := e.blobs.Status(ctx, u.ID); !errors.Is(err, storage.ErrUploadUnknown) {
		t.Errorf("abandoned upload survived: %v", err)
	}
}

func TestUploadGrace(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	u, err := e.blobs.Create(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.c.Run(ctx, Options{UploadGrace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.blobs.Status(ctx, u.ID); err != nil || res.Uploads != 0 {
		t.Errorf("an upload inside its grace period was cancelled: %v, %+v", err, res)
	}
}

func TestFinishesCondemned(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	d := e.push("a", "half-collected")
	// A run that crashed after condemning d but before deleting it.
	if got, err := e.meta.CondemnBlobs(ctx, []digest.Digest{d}, time.Now().Add(time.Hour)); err != nil || len(got) != 1 {
		t.Fatalf("CondemnBlobs = %v, %v", got, err)
	}
	if _, err := e.c.Run(ctx, Options{Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if e.exists(d) {
		t.Error("condemned blob survived the next run")
	}
	if err := e.meta.LinkBlob(ctx, "a", d, 14); err != nil {
		t.Errorf("tombstone not released: %v", err)
	}
}

func TestServiceHistory(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	e.push("a", "x")
	s := NewService(e.c, e.meta, 0, nil)
	if _, err := s.Run(ctx, Options{DryRun: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(ctx, Options{}); err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].DryRun || !runs[1].DryRun || runs[0].Blobs != 1 || runs[1].Blobs != 1 || runs[0].Bytes != 1 {
		t.Errorf("runs = %+v", runs)
	}
}

func TestServiceLoop(t *testing.T) {
	e := newTestEnv(t)
	e.push("a", "collected on schedule")
	s := NewService(e.c, e.meta, 0, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Loop(ctx, schedule.Every(5*time.Millisecond)); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		runs, err := s.Runs(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) >= 2 {
			if runs[len(runs)-1].Blobs != 1 {
				t.Errorf("first scheduled run = %+v, want 1 blob deleted", runs[len(runs)-1])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d scheduled runs in 5s", len(runs))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Loop did not stop with its context")
	}
	if _, err := s.Run(context.Background(), Options{}); err != nil {
		t.Errorf("a run after the loop stopped: %v", err)
	}
}

// TestServiceLoopCron waits for the cron time: a yearly schedule runs
// nothing now, and the loop still stops with its context.
func TestServiceLoopCron(t *testing.T) {
	e := newTestEnv(t)
	e.push("a", "not yet")
	s := NewService(e.c, e.meta, 0, nil)
	sched, err := schedule.Parse("0 0 1 1 *")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	s.Loop(ctx, sched)
	if runs, err := s.Runs(context.Background(), 10); err != nil || len(runs) != 0 {
		t.Errorf("runs = %+v, %v; want none before the cron time", runs, err)
	}
}

// TestProgress reports each swept batch, counts growing to the result.
func TestProgress(t *testing.T) {
	e := newTestEnv(t)
	for i := range batchSize + 10 {
		e.store(fmt.Sprintf("garbage %d", i))
	}
	var seen []Result
	res, err := e.c.Run(context.Background(), Options{Progress: func(r Result) { seen = append(seen, r) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0].Blobs != batchSize || seen[1].Blobs != res.Blobs || res.Blobs != batchSize+10 {
		t.Errorf("progress %+v, result %d blobs; want two batches up to %d", seen, res.Blobs, batchSize+10)
	}
}

// TestLockedRepositoryKeepsItsLinks: the collector does not unlink blobs
// of a repository locked against deletion (a DELETE of the blob would be
// refused), and collects them once the lock is cleared.
func TestLockedRepositoryKeepsItsLinks(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	orphan := e.push("frozen", "orphan link in a locked repository")
	free := e.push("open", "orphan link elsewhere")
	if err := e.meta.SetLock(ctx, metadata.Lock{Repo: "frozen", WriteEnabled: true, DeleteEnabled: false, ReadEnabled: true}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name       string
		clear      bool
		wantOrphan bool
	}{
		{"locked", false, true},
		{"lock cleared", true, false},
	}
	for _, st := range steps {
		if st.clear {
			if err := e.meta.ClearLock(ctx, "frozen", "", ""); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.c.Run(ctx, Options{}); err != nil {
			t.Fatal(err)
		}
		if got := e.exists(orphan); got != st.wantOrphan {
			t.Errorf("%s: blob of the locked repository exists = %v, want %v", st.name, got, st.wantOrphan)
		}
		if e.exists(free) {
			t.Errorf("%s: orphan of an unlocked repository not collected", st.name)
		}
	}
}
