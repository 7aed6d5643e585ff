package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/lifecycle/quota"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/scan/match"
	"github.com/berth-registry/berth/internal/scan/scanner"
	"github.com/berth-registry/berth/internal/scan/vulndb"
	"github.com/berth-registry/berth/internal/storage/fsblob"
)

// Benchmark sizes (issue 6): pages render in under 200 ms server-side with
// 10,000 repositories and 100,000 tags.
const (
	benchRepos   = 10_000
	benchPerRepo = 10  // tags, each on its own manifest: 100,000 tags and images
	benchBigTags = 100 // the repository the Repository page shows
	benchScanned = 10  // one manifest in this many has a stored scan
	benchFinds   = 40  // findings per scanned image
)

// seedBrowse fills s like the retention benchmarks' fixture
// (lifecycle/policy seedTags: team-NN/svc-NNNN, one layer per repository,
// each tag on its own manifest), plus scans and one repository of 100
// tags.
func seedBrowse(b *testing.B, s *sqlite.Store) {
	b.Helper()
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	put := func(repo string, i int, layer digest.Digest) digest.Digest {
		content := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","name":"%s:%d"}`, repo, i)
		m := &metadata.Manifest{Repo: repo, Digest: digest.FromBytes(content), MediaType: "application/vnd.oci.image.manifest.v1+json",
			Size: int64(len(content)), Content: content, Blobs: []digest.Digest{layer}, PushedAt: now.Add(-time.Duration(i%60) * 24 * time.Hour)}
		if err := s.PutManifest(ctx, m, []string{fmt.Sprintf("v1.%d", i)}); err != nil {
			b.Fatal(err)
		}
		return m.Digest
	}
	seq := 0
	fill := func(repo string, n int) {
		layer := digest.FromString("layer:" + repo)
		if err := s.LinkBlob(ctx, repo, layer, 1<<20); err != nil {
			b.Fatal(err)
		}
		for i := range n {
			d := put(repo, i, layer)
			seq++
			if seq%benchScanned == 0 {
				saveBenchScan(b, s, repo, d, seq)
			}
		}
	}
	for r := range benchRepos - 1 {
		fill(fmt.Sprintf("team-%02d/svc-%04d", r%50, r), benchPerRepo)
	}
	fill("big/app", benchBigTags)
}

// saveBenchScan stores a complete scan with benchFinds findings, drawn
// from a pool of 500 ids so that ids repeat across images.
func saveBenchScan(b *testing.B, s *sqlite.Store, repo string, d digest.Digest, seq int) {
	sevs := []vulndb.Severity{vulndb.SeverityCritical, vulndb.SeverityHigh, vulndb.SeverityMedium, vulndb.SeverityLow, vulndb.SeverityUnknown}
	rec := &metadata.ScanRecord{Digest: d, Repo: repo, MediaType: "application/vnd.oci.image.manifest.v1+json",
		Status: metadata.ScanComplete, DBVersion: "bench", Finished: time.Now()}
	var fs []match.Finding
	for i := range benchFinds {
		id := fmt.Sprintf("CVE-2099-%04d", (seq+i*7)%500)
		f := match.Finding{ID: id, Summary: "benchmark advisory", Details: "A long description of the problem.",
			Severity: sevs[i%len(sevs)], CVSSScore: 7.5, CVSSVector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
			References: []string{"https://example.org/" + id}, Package: fmt.Sprintf("pkg%d", i), Ecosystem: "Debian",
			InstalledVersion: "1.0", FixedVersions: []string{"1.1"}, FixStatus: match.Fixed, DBVersion: "bench"}
		fs = append(fs, f)
		rec.Vulns = append(rec.Vulns, metadata.ScanVuln{ID: id, Package: f.Package, Severity: string(f.Severity)})
	}
	rec.Findings, _ = json.Marshal(fs)
	if err := s.SaveScan(context.Background(), rec, nil); err != nil {
		b.Fatal(err)
	}
}

// openBenchStore opens the seeded store, seeding it on first use into the
// temporary directory (four minutes on a 2-core machine): later runs
// reuse it. The pages only read it.
func openBenchStore(b *testing.B) (*sqlite.Store, string, digest.Digest) {
	ctx := context.Background()
	// The name carries the fixture's version (bump v1 when seedBrowse
	// changes) and the schema's, so a new schema seeds anew rather than
	// timing a migration's leftovers.
	path := filepath.Join(os.TempDir(), fmt.Sprintf("berth-ui-bench-v1-s%d.db", sqlite.SchemaVersion))
	if _, err := os.Stat(path); err != nil {
		tmp := path + ".seeding"
		os.Remove(tmp)
		s, err := sqlite.Open(ctx, tmp, sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		seedBrowse(b, s)
		b.Logf("seeded %d repositories, %d tags in %s into %s", benchRepos, (benchRepos-1)*benchPerRepo+benchBigTags,
			time.Since(start).Round(time.Second), path)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	}
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	tags, err := s.TagDetails(ctx, "big/app", metadata.OrderName, metadata.Page{})
	if err != nil {
		b.Fatal(err)
	}
	for _, t := range tags {
		if _, err := s.Scan(ctx, t.Digest); err == nil {
			return s, "big/app", t.Digest
		}
	}
	b.Fatal("no scanned image in big/app")
	return nil, "", ""
}

// BenchmarkPages renders each page through the UI's handler (no network)
// against the seeded store, as an admin with authentication off: no
// grant filter narrows the queries, the worst case.
func BenchmarkPages(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	s, big, img := openBenchStore(b)
	defer s.Close()
	blobs, err := fsblob.Open(ctx, filepath.Join(dir, "blobs"), fsblob.Options{})
	if err != nil {
		b.Fatal(err)
	}
	osv := filepath.Join(dir, "osv")
	if err := os.MkdirAll(osv, 0o700); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(osv, "a.json"), []byte(`{"id":"X-1","modified":"2099-01-01T00:00:00Z",
		"affected":[{"package":{"ecosystem":"Go","name":"x"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"}]}]}]}`), 0o600); err != nil {
		b.Fatal(err)
	}
	db, err := scanner.LoadDB(ctx, []string{osv})
	if err != nil {
		b.Fatal(err)
	}
	holder := &vulndb.Holder{}
	holder.Store(db)
	// The Policies, Usage and Access pages read the same store through
	// the services berth serve hands them (server/ui.go) that need no
	// server: usage from metadata as quota.Meter measures it.
	u, err := New(Options{Store: s, Blobs: blobs, Scans: scanner.New(s, blobs, holder, scanner.Options{}),
		Usage: quota.Meter{Links: s, Trash: s, Totals: s}.Usage,
		Manage: Manage{Policies: s, Guards: s, Gates: s, Users: s, AuditLog: s, UsageHistory: s,
			Quotas: quota.Options{MinFree: 1 << 30}, FreeBytes: func() (int64, error) { return quota.FreeBytes(dir) }}})
	if err != nil {
		b.Fatal(err)
	}
	pages := []struct{ name, path, want string }{
		{"home", "/ui/", "CVE-2099-"},
		{"repositories", "/ui/repositories", "team-00/svc-0000"},
		{"repositories-by-size", "/ui/repositories?sort=size&order=desc", "Page 1 of 200"},
		{"repositories-by-severity", "/ui/repositories?sort=severity", "Page 1 of 200"},
		{"repositories-by-pull-page-100", "/ui/repositories?sort=pulled&page=100", "Page 100 of 200"},
		{"repositories-search", "/ui/repositories?q=svc-12", "team-00/svc-1200"},
		{"repository-100-tags", "/ui/repositories/" + big, "v1.99"},
		{"image", "/ui/repositories/" + big + "/-/images/" + img.String(), "Showing 40 of 40"},
		{"policies", "/ui/policies", "Retention policies"},
		{"usage", "/ui/usage", "Page 1 of 100 (10000 repositories"},
		{"access", "/ui/access", "Audit log"},
	}
	// The Usage page shows the last measurement (usage.go); wait for the
	// first one.
	if _, at := u.usage.get(); at.IsZero() {
		u.usage.mu.Lock()
		done := u.usage.done
		u.usage.mu.Unlock()
		<-done
	}
	// The home page serves its aggregates from the cache (homecache.go);
	// home-aggregates below is what filling it costs.
	for deadline := time.Now().Add(5 * time.Minute); ; {
		if a, _ := u.homeAgg.get(nil); a != nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("home aggregates not counted within 5 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Run("home-aggregates", func(b *testing.B) {
		for b.Loop() {
			if _, err := u.homeAggregatesOf(ctx, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
	})
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				u.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p.path, nil))
				if rec.Code != http.StatusOK || !bytesContains(rec.Body.Bytes(), p.want) {
					b.Fatalf("GET %s = %d, want %q in:\n%.2000s", p.path, rec.Code, p.want, rec.Body.String())
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}

func bytesContains(b []byte, s string) bool { return strings.Contains(string(b), s) }
