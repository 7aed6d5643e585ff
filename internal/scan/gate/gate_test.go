package gate

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/oci"
)

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// countingStore counts the scan reads, the query a pull of a gated
// repository costs.
type countingStore struct {
	*sqlite.Store
	scans int
}

func (c *countingStore) GateScans(ctx context.Context, d digest.Digest) ([]metadata.ScanSummary, error) {
	c.scans++
	return c.Store.GateScans(ctx, d)
}

func TestGateScansReadsAnIndexInOneQuery(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	idx, a, b := digest.FromString("index"), digest.FromString("a"), digest.FromString("b")
	for _, rec := range []*metadata.ScanRecord{
		{Digest: idx, Status: metadata.ScanComplete, Children: []digest.Digest{a, b}},
		{Digest: a, Status: metadata.ScanComplete, Vulns: []metadata.ScanVuln{
			{ID: "GHSA-1", Package: "p", Severity: "HIGH"}, {ID: "CVE-1", Package: "p", Severity: "HIGH", Finding: "GHSA-1"}}},
		{Digest: digest.FromString("unrelated"), Status: metadata.ScanFailed},
	} {
		if err := db.SaveScan(ctx, rec, nil); err != nil {
			t.Fatal(err)
		}
	}
	sums, err := db.GateScans(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 2 || sums[0].Digest != idx || sums[1].Digest != a || len(sums[0].Children) != 2 {
		t.Fatalf("GateScans = %+v, want the index then child a", sums)
	}
	if len(sums[1].Vulns) != 2 {
		t.Fatalf("child vulns %+v", sums[1].Vulns)
	}
	s := FromSummaries(sums)
	if s.Status != metadata.ScanScanning || len(s.Findings) != 1 || s.Findings[0].Aliases[0] != "CVE-1" {
		t.Fatalf("scan %+v: b has no scan yet, so the index is still scanning", s)
	}
	if sums, err := db.GateScans(ctx, digest.FromString("never")); err != nil || len(sums) != 0 {
		t.Fatalf("never scanned: %+v, %v", sums, err)
	}
}

func TestCheckPull(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	store := &countingStore{Store: db}
	clock := now
	g, err := New(ctx, store, Options{Now: func() time.Time { return clock },
		Exempt: func(r *http.Request) bool { return r.Header.Get("X-Admin") == "yes" }})
	if err != nil {
		t.Fatal(err)
	}
	vuln := digest.FromString("vulnerable")
	if err := db.SaveScan(ctx, &metadata.ScanRecord{Digest: vuln, Status: metadata.ScanComplete,
		Vulns: []metadata.ScanVuln{{ID: "CVE-2024-9", Package: "openssl", Severity: "CRITICAL"}}}, nil); err != nil {
		t.Fatal(err)
	}
	pull := func(repo string, hdr ...string) error {
		r := httptest.NewRequest(http.MethodGet, "/v2/"+repo+"/manifests/latest", nil)
		if len(hdr) == 2 {
			r.Header.Set(hdr[0], hdr[1])
		}
		return g.CheckPull(r, repo, "latest", &metadata.Manifest{Repo: repo, Digest: vuln})
	}

	if err := pull("team/app"); err != nil || store.scans != 0 {
		t.Fatalf("no policy: %v after %d scan reads, want nil after none", err, store.scans)
	}
	if _, err := g.SetPolicy(ctx, metadata.GatePolicy{Pattern: "team/*", Severity: "high"}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.SetPolicy(ctx, metadata.GatePolicy{Pattern: "team/sandbox/*", Severity: "NONE", Unscanned: "deny"}); err != nil {
		t.Fatal(err)
	}
	if err := pull("other/app"); err != nil || store.scans != 0 {
		t.Fatalf("unmatched repository: %v after %d scan reads", err, store.scans)
	}
	err = pull("team/app")
	var oe *oci.Error
	if !errors.As(err, &oe) || oe.Code != oci.CodeDenied || !strings.Contains(oe.Message, "CVE-2024-9 (CRITICAL, openssl)") {
		t.Fatalf("pull = %v, want DENIED naming the CVE", err)
	}
	if store.scans != 1 {
		t.Fatalf("%d scan reads for one gated pull", store.scans)
	}
	if err := pull("team/sandbox/x"); err != nil {
		t.Fatalf("the more specific policy has no threshold: %v", err)
	}
	if err := pull("team/app", "X-Admin", "yes"); err != nil {
		t.Fatalf("exempt request: %v", err)
	}
	_ = pull("team/app") // a retry within a minute is not recorded again

	if err := g.AddException(ctx, metadata.GateException{Pattern: "team/app", ID: "CVE-2024-9", Reason: "not reachable",
		Expires: clock.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := pull("team/app"); err != nil {
		t.Fatalf("with an exception: %v", err)
	}
	clock = clock.Add(2 * time.Hour)
	if err := pull("team/app"); err == nil {
		t.Fatal("the exception expired, yet the pull was allowed")
	}

	var types []string
	events, err := db.PendingEvents(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if strings.HasPrefix(e.Type, "gate.") {
			types = append(types, e.Type)
		}
	}
	want := "gate.set gate.set gate.denied gate.exception_added gate.excepted gate.denied"
	if strings.Join(types, " ") != want {
		t.Fatalf("events %v, want %s", types, want)
	}

	if err := g.AddException(ctx, metadata.GateException{Pattern: "*", ID: "CVE-1", Reason: "x", Expires: clock.Add(-time.Hour)}); err == nil {
		t.Error("an exception that expired already was accepted")
	}
	if err := g.AddException(ctx, metadata.GateException{Pattern: "*", ID: "CVE-1"}); err == nil {
		t.Error("an exception without a reason was accepted")
	}
	if err := g.DeletePolicy(ctx, "team/*"); err != nil {
		t.Fatal(err)
	}
	if err := pull("team/app"); err != nil {
		t.Fatalf("policy deleted, the cache still refuses: %v", err)
	}
	if err := g.DeletePolicy(ctx, "team/*"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
}

// BenchmarkCheckPullUngated is the cost a manifest GET pays when gates
// exist but none matches the repository.
func BenchmarkCheckPullUngated(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "meta.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	g, err := New(ctx, db, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range []string{"team/*", "prod/*", "a/b/c", "*/release"} {
		if _, err := g.SetPolicy(ctx, metadata.GatePolicy{Pattern: p, Severity: "HIGH"}); err != nil {
			b.Fatal(err)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/v2/library/nginx/manifests/latest", nil)
	m := &metadata.Manifest{Digest: digest.FromString("x")}
	b.ReportAllocs()
	for b.Loop() {
		if err := g.CheckPull(r, "library/nginx", "latest", m); err != nil {
			b.Fatal(err)
		}
	}
}
