package scanner_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/scan/scanner"
)

// gatedStore holds ListScans, which only a rematch calls once the
// scanner has started, until release is closed.
type gatedStore struct {
	*sqlite.Store
	gate    atomic.Bool
	release chan struct{}
}

func (g *gatedStore) ListScans(ctx context.Context, p metadata.Page) ([]metadata.ScanRecord, error) {
	if g.gate.Load() {
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.Store.ListScans(ctx, p)
}

// TestReloadDoesNotWaitForRematch: Reload returns once the new database is
// swapped in, while the rematch of the stored inventories still runs;
// its progress is visible, and an image pushed meanwhile is scanned with
// the new database at once.
func TestReloadDoesNotWaitForRematch(t *testing.T) {
	e := newEnv(t, goDB)
	e.sc.Stop()
	store := &gatedStore{Store: e.meta, release: make(chan struct{})}
	e.sc = scanner.New(store, e.blobs, e.db, scanner.Options{Workers: 2})
	e.sc.Start(e.ctx)
	t.Cleanup(e.sc.Stop)

	d := e.debian("team/app", "v1")
	e.push("team/app", d)
	old := e.wait("team/app", d)
	// Forty more stored inventories, as other images would leave.
	rec, err := e.meta.Scan(e.ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	const extra = 40
	for i := range extra {
		r := *rec
		r.Digest = digest.FromString(string(rune('a' + i)))
		if err := e.meta.SaveScan(e.ctx, &r, nil); err != nil {
			t.Fatal(err)
		}
	}

	store.gate.Store(true)
	res, err := e.sc.Reload(e.ctx, []string{goDB, debianDB(t)})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Rematch.State != scanner.RematchRunning || res.Rematch.Total != extra+1 || res.Rematch.Version != res.Status.Version {
		t.Fatalf("Reload = %+v, want a rematch of %d running", res.Rematch, extra+1)
	}
	if st := e.sc.RematchStatus(); st.State != scanner.RematchRunning || st.Done != 0 {
		t.Fatalf("status while held = %+v, want running, 0 done", st)
	}

	// A new image is scanned with the new database while the rematch waits.
	n := e.image("team/new", "application/vnd.oci.image.config.v1+json",
		[][]byte{gz(t, map[string]string{"etc/os-release": osRelease, "var/lib/dpkg/status": dpkgStatus, "etc/new": "x"})})
	e.push("team/new", n)
	if r := e.wait("team/new", n); r.DBVersion != res.Status.Version || !slices.Equal(ids(r), []string{"DEBIAN-CVE-2099-0001:CRITICAL"}) {
		t.Fatalf("scan during the rematch: version %s ids %v, want %s with the new advisory", r.DBVersion, ids(r), res.Status.Version)
	}
	if r, _ := e.sc.Report(e.ctx, "team/app", d); r.DBVersion != old.DBVersion {
		t.Fatalf("old image rematched while the rematch was held: %s", r.DBVersion)
	}

	close(store.release)
	st := e.sc.WaitRematch(e.ctx)
	if st.State != scanner.RematchDone || st.Done != extra+1 || st.NewCritical != extra+1 || st.Finished == nil {
		t.Fatalf("rematch = %+v, want done, %d rematched", st, extra+1)
	}
	if r := e.wait("team/app", d); r.DBVersion != res.Status.Version {
		t.Errorf("after the rematch: version %s, want %s", r.DBVersion, res.Status.Version)
	}
}

// TestNewerReloadStopsRematch: a second database version stops the
// rematch to the first and redoes the lot.
func TestNewerReloadStopsRematch(t *testing.T) {
	e := newEnv(t, goDB)
	e.sc.Stop()
	store := &gatedStore{Store: e.meta, release: make(chan struct{})}
	e.sc = scanner.New(store, e.blobs, e.db, scanner.Options{Workers: 1})
	e.sc.Start(e.ctx)
	t.Cleanup(e.sc.Stop)
	d := e.debian("team/app", "v1")
	e.push("team/app", d)
	e.wait("team/app", d)

	store.gate.Store(true)
	if _, err := e.sc.Reload(e.ctx, []string{debianDB(t)}); err != nil {
		t.Fatal(err)
	}
	store.gate.Store(false)
	res, err := e.sc.Reload(e.ctx, []string{goDB, debianDB(t)})
	if err != nil {
		t.Fatal(err)
	}
	st := e.sc.WaitRematch(e.ctx)
	if st.State != scanner.RematchDone || st.Version != res.Status.Version || st.Rematched != 1 {
		t.Fatalf("rematch after a newer reload = %+v, want done with %s", st, res.Status.Version)
	}
	if r := e.wait("team/app", d); r.DBVersion != res.Status.Version {
		t.Errorf("image version %s, want %s", r.DBVersion, res.Status.Version)
	}
}

// TestStartResumesRematch: a server started with another database than
// its stored inventories were matched with re-matches them by itself.
func TestStartResumesRematch(t *testing.T) {
	e := newEnv(t, goDB)
	d := e.debian("team/app", "v1")
	e.push("team/app", d)
	e.wait("team/app", d)
	e.sc.Stop()

	db, err := scanner.LoadDB(e.ctx, []string{goDB, debianDB(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.db.Store(db)
	e.sc = scanner.New(e.meta, e.blobs, e.db, scanner.Options{})
	e.sc.Start(e.ctx)
	t.Cleanup(e.sc.Stop)
	deadline := time.Now().Add(10 * time.Second)
	for st := e.sc.RematchStatus(); st.State != scanner.RematchDone; st = e.sc.RematchStatus() {
		if time.Now().After(deadline) {
			t.Fatalf("no rematch after start: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r := e.wait("team/app", d); r.DBVersion != db.Version() || len(r.Findings) != 1 {
		t.Errorf("after start: version %s findings %v, want %s and the new advisory", r.DBVersion, ids(r), db.Version())
	}
}
