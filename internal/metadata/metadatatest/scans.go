package metadatatest

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// ScanStore is a backend with the Scans role.
type ScanStore interface {
	metadata.Store
	metadata.Scans
}

// RunScans checks the Scans role. Beyond the interface comments it pins
// down that a save replaces the vulnerability index, that its events are
// written with it, that AffectedBy names every repository holding the
// digest (with its tags) but not a manifest in the recycle bin, and that
// listings page.
func RunScans(t *testing.T, open func(t *testing.T) ScanStore) {
	t.Run("SaveAndGet", func(t *testing.T) { testSaveScan(t, open(t)) })
	t.Run("AffectedBy", func(t *testing.T) { testAffectedBy(t, open(t)) })
	t.Run("ListScans", func(t *testing.T) { testListScans(t, open(t)) })
}

func testSaveScan(t *testing.T, s ScanStore) {
	f := &fixture{t: t, s: s, ctx: metadata.WithActor(t.Context(), "scanner")}
	d := digest.FromString("scan")
	if _, err := s.Scan(f.ctx, d); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("Scan of unknown digest: %v, want ErrNotFound", err)
	}
	rec := &metadata.ScanRecord{Digest: d, Repo: "a", Status: metadata.ScanComplete, DBVersion: "v1",
		Queued: at(0), Started: at(1), Finished: at(2), Children: []digest.Digest{digest.FromString("c")},
		Inventory: json.RawMessage(`{"packages":[]}`), Findings: json.RawMessage(`[{"id":"X"}]`),
		Vulns: []metadata.ScanVuln{{ID: "X", Package: "p", Severity: "HIGH"}}}
	ev := metadata.Event{Type: metadata.EventScanNewCritical, Repo: "a", Digest: d, Tag: "X"}
	if err := s.SaveScan(f.ctx, rec, []metadata.Event{ev}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Scan(f.ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != rec.Status || got.DBVersion != "v1" || got.Repo != "a" || !got.Finished.Equal(at(2)) ||
		!slices.Equal(got.Children, rec.Children) || string(got.Inventory) != string(rec.Inventory) ||
		string(got.Findings) != string(rec.Findings) {
		t.Errorf("Scan = %+v, want %+v", got, rec)
	}
	evs := f.events()
	if len(evs) != 1 || evs[0].Type != metadata.EventScanNewCritical || evs[0].Digest != d || evs[0].Actor != "scanner" {
		t.Errorf("events = %+v, want one %s by scanner", evs, metadata.EventScanNewCritical)
	}
	// A second save replaces everything, the index included.
	rec2 := &metadata.ScanRecord{Digest: d, Repo: "a", Status: metadata.ScanPartial, Reason: "r", DBVersion: "v2"}
	if err := s.SaveScan(f.ctx, rec2, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Scan(f.ctx, d); got.Status != metadata.ScanPartial || got.Reason != "r" || got.Findings != nil || got.Children != nil {
		t.Errorf("after replace: %+v", got)
	}
}

func testAffectedBy(t *testing.T, s ScanStore) {
	f := &fixture{t: t, s: s, ctx: t.Context()}
	m := f.image("b", "img", at(0), "v1", "latest")
	// The same content in a second repository shares the scan.
	m2 := manifest("a", "img", f.blob("a", "img/config", 100), f.blob("a", "img/layer", 1000))
	f.put(m2, "prod")
	other := f.image("c", "other", at(1))
	save := func(d digest.Digest, vulns ...metadata.ScanVuln) {
		if err := s.SaveScan(f.ctx, &metadata.ScanRecord{Digest: d, Status: metadata.ScanComplete, Vulns: vulns}, nil); err != nil {
			t.Fatal(err)
		}
	}
	save(m.Digest, metadata.ScanVuln{ID: "GO-1", Package: "x", Severity: "HIGH"}, metadata.ScanVuln{ID: "CVE-1", Package: "x", Severity: "HIGH"})
	save(other.Digest, metadata.ScanVuln{ID: "GO-2", Package: "y", Severity: "LOW"})

	got, err := s.AffectedBy(f.ctx, "CVE-1", metadata.Page{})
	if err != nil {
		t.Fatal(err)
	}
	want := []metadata.AffectedImage{
		{Repo: "a", Digest: m.Digest, Package: "x", Severity: "HIGH", Tags: []string{"prod"}},
		{Repo: "b", Digest: m.Digest, Package: "x", Severity: "HIGH", Tags: []string{"latest", "v1"}},
	}
	if !slices.EqualFunc(got, want, func(a, b metadata.AffectedImage) bool {
		return a.Repo == b.Repo && a.Digest == b.Digest && a.Package == b.Package && a.Severity == b.Severity && slices.Equal(a.Tags, b.Tags)
	}) {
		t.Errorf("AffectedBy(CVE-1) = %+v, want %+v", got, want)
	}
	page, err := s.AffectedBy(f.ctx, "CVE-1", metadata.Page{Last: "a@" + m.Digest.String(), N: 5})
	if err != nil || len(page) != 1 || page[0].Repo != "b" {
		t.Errorf("AffectedBy after a@…: %+v, %v; want only b", page, err)
	}
	if none, err := s.AffectedBy(f.ctx, "GO-404", metadata.Page{}); err != nil || none == nil || len(none) != 0 {
		t.Errorf("AffectedBy(unknown) = %v, %v; want empty non-nil", none, err)
	}
}

func testListScans(t *testing.T, s ScanStore) {
	ctx := t.Context()
	var ds []digest.Digest
	for _, n := range []string{"1", "2", "3"} {
		d := digest.FromString(n)
		ds = append(ds, d)
		if err := s.SaveScan(ctx, &metadata.ScanRecord{Digest: d, Status: metadata.ScanPending}, nil); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(ds)
	first, err := s.ListScans(ctx, metadata.Page{N: 2})
	if err != nil || len(first) != 2 || first[0].Digest != ds[0] || first[1].Digest != ds[1] {
		t.Fatalf("ListScans page 1 = %+v, %v", first, err)
	}
	rest, err := s.ListScans(ctx, metadata.Page{Last: ds[1].String(), N: 2})
	if err != nil || len(rest) != 1 || rest[0].Digest != ds[2] {
		t.Fatalf("ListScans page 2 = %+v, %v", rest, err)
	}
}
