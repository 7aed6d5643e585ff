package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// TestBrowse checks the web UI's listings on a small store: filters by
// substring (LIKE wildcards taken literally) and grant pattern, every
// order both ways, paging, totals and the scan aggregates.
func TestBrowse(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "meta.db"))
	defer s.Close()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	put := func(repo string, i int, size int64, tags ...string) digest.Digest {
		t.Helper()
		layer := digest.FromString(fmt.Sprint("layer", repo, i))
		if err := s.LinkBlob(ctx, repo, layer, size); err != nil {
			t.Fatal(err)
		}
		content := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","n":"%s%d"}`, repo, i)
		m := &metadata.Manifest{Repo: repo, Digest: digest.FromBytes(content), MediaType: "application/vnd.oci.image.manifest.v1+json",
			Size: int64(len(content)), Content: content, Blobs: []digest.Digest{layer}, PushedAt: base.Add(time.Duration(i) * time.Hour)}
		if err := s.PutManifest(ctx, m, tags); err != nil {
			t.Fatal(err)
		}
		return m.Digest
	}
	a := put("team/a", 1, 100, "1", "2", "3")
	put("team/b_x", 5, 5000, "1")
	c := put("other/c", 3, 10, "1", "2")
	for d, sev := range map[digest.Digest]string{a: "HIGH", c: "CRITICAL"} {
		if err := s.SaveScan(ctx, &metadata.ScanRecord{Digest: d, Status: metadata.ScanComplete,
			Vulns: []metadata.ScanVuln{{ID: "CVE-1", Package: "p", Severity: sev}, {ID: "GHSA-1", Package: "p", Severity: "LOW"}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordPulls(ctx, []metadata.Pull{{Repo: "other/c", Digest: c, At: base.Add(100 * time.Hour)}}); err != nil {
		t.Fatal(err)
	}

	names := func(rows []metadata.RepoRow) []string {
		var out []string
		for _, r := range rows {
			out = append(out, r.Name)
		}
		return out
	}
	tests := []struct {
		name  string
		q     metadata.RepoQuery
		want  []string
		total int
	}{
		{"all by name", metadata.RepoQuery{}, []string{"other/c", "team/a", "team/b_x"}, 3},
		{"by name desc", metadata.RepoQuery{Desc: true}, []string{"team/b_x", "team/a", "other/c"}, 3},
		{"contains", metadata.RepoQuery{Contains: "team"}, []string{"team/a", "team/b_x"}, 2},
		{"underscore is literal", metadata.RepoQuery{Contains: "b_"}, []string{"team/b_x"}, 1},
		{"percent is literal", metadata.RepoQuery{Contains: "%"}, nil, 0},
		{"patterns", metadata.RepoQuery{Patterns: []string{"team/*"}}, []string{"team/a", "team/b_x"}, 2},
		{"exact pattern", metadata.RepoQuery{Patterns: []string{"other/c"}}, []string{"other/c"}, 1},
		{"no patterns", metadata.RepoQuery{Patterns: []string{}}, nil, 0},
		{"glob wildcard is literal", metadata.RepoQuery{Patterns: []string{"team/?"}}, nil, 0},
		{"by tags desc", metadata.RepoQuery{Sort: metadata.SortByTags, Desc: true}, []string{"team/a", "other/c", "team/b_x"}, 3},
		{"by size desc", metadata.RepoQuery{Sort: metadata.SortBySize, Desc: true}, []string{"team/b_x", "team/a", "other/c"}, 3},
		{"by push desc", metadata.RepoQuery{Sort: metadata.SortByPushed, Desc: true}, []string{"team/b_x", "other/c", "team/a"}, 3},
		{"by pull desc", metadata.RepoQuery{Sort: metadata.SortByPulled, Desc: true}, []string{"other/c", "team/b_x", "team/a"}, 3},
		{"by severity desc", metadata.RepoQuery{Sort: metadata.SortBySeverity, Desc: true}, []string{"other/c", "team/a", "team/b_x"}, 3},
		{"by severity asc", metadata.RepoQuery{Sort: metadata.SortBySeverity}, []string{"team/b_x", "team/a", "other/c"}, 3},
		{"page", metadata.RepoQuery{Sort: metadata.SortBySize, Desc: true, Offset: 1, N: 1}, []string{"team/a"}, 3},
		{"past the end", metadata.RepoQuery{Offset: 10}, nil, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, total, err := s.BrowseRepos(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(rows); !slices.Equal(got, tt.want) || total != tt.total {
				t.Errorf("BrowseRepos = %v (total %d), want %v (total %d)", got, total, tt.want, tt.total)
			}
		})
	}
	rows, _, err := s.BrowseRepos(ctx, metadata.RepoQuery{Contains: "team/a"})
	if err != nil {
		t.Fatal(err)
	}
	if r := rows[0]; r.Tags != 3 || r.Manifests != 1 || r.Highest != "HIGH" || !r.Pushed.Equal(base.Add(time.Hour)) || !r.Pulled.IsZero() {
		t.Errorf("team/a row = %+v", r)
	}

	tot, err := s.BrowseTotals(ctx, []string{"team/*"})
	if err != nil || tot != (metadata.Totals{Repos: 2, Images: 2, Tags: 4}) {
		t.Errorf("BrowseTotals(team/*) = %+v, %v", tot, err)
	}
	sev, err := s.SeverityCounts(ctx, nil)
	want := []metadata.SeverityCount{{Severity: "CRITICAL", Images: 1}, {Severity: "HIGH", Images: 1}, {Severity: metadata.NotScanned, Images: 1}}
	if err != nil || !slices.Equal(sev, want) {
		t.Errorf("SeverityCounts = %+v, %v; want %+v", sev, err, want)
	}
	top, err := s.TopVulns(ctx, []string{"team/*"}, 10)
	wantTop := []metadata.VulnCount{{ID: "CVE-1", Severity: "HIGH", Images: 1}, {ID: "GHSA-1", Severity: "LOW", Images: 1}}
	if err != nil || !reflect.DeepEqual(top, wantTop) {
		t.Errorf("TopVulns(team/*) = %+v, %v; want %+v", top, err, wantTop)
	}
	// A rescan replaces the findings: the highest severity follows, down
	// as well as up.
	if err := s.SaveScan(ctx, &metadata.ScanRecord{Digest: a, Status: metadata.ScanComplete,
		Vulns: []metadata.ScanVuln{{ID: "GHSA-1", Package: "p", Severity: "LOW"}}}, nil); err != nil {
		t.Fatal(err)
	}
	if rows, _, err := s.BrowseRepos(ctx, metadata.RepoQuery{Contains: "team/a"}); err != nil || rows[0].Highest != "LOW" {
		t.Errorf("team/a after a rescan = %+v, %v; want highest LOW", rows, err)
	}
	if err := s.SaveScan(ctx, &metadata.ScanRecord{Digest: a, Status: metadata.ScanComplete}, nil); err != nil {
		t.Fatal(err)
	}
	if sev, err := s.SeverityCounts(ctx, []string{"team/*"}); err != nil || !slices.Equal(sev, []metadata.SeverityCount{{Severity: "", Images: 1}, {Severity: metadata.NotScanned, Images: 1}}) {
		t.Errorf("SeverityCounts after a clean rescan = %+v, %v", sev, err)
	}
	badges, err := s.ScanBadges(ctx, []digest.Digest{a, c, digest.FromString("none")})
	if err != nil || len(badges) != 2 || badges[c] != (metadata.ScanBadge{Status: metadata.ScanComplete, Highest: "CRITICAL"}) {
		t.Errorf("ScanBadges = %+v, %v", badges, err)
	}
}

// TestTopVulnsAliases: ids that alias each other are one vulnerability,
// named by its CVE id, whichever id each image's finding has (the OSV
// record of one source lists the other as an alias, and the reverse), and
// its images are counted once; a GHSA naming two CVEs joins them.
func TestTopVulnsAliases(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "meta.db"))
	defer s.Close()
	image := func(repo string, vulns ...metadata.ScanVuln) {
		t.Helper()
		content := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","repo":%q}`, repo)
		m := &metadata.Manifest{Repo: repo, Digest: digest.FromBytes(content), MediaType: "application/vnd.oci.image.manifest.v1+json",
			Size: int64(len(content)), Content: content, PushedAt: time.Now()}
		if err := s.PutManifest(ctx, m, []string{"v1"}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveScan(ctx, &metadata.ScanRecord{Digest: m.Digest, Status: metadata.ScanComplete, Vulns: vulns}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// finding is a finding's rows: its own id, then one per alias.
	finding := func(id, sev string, aliases ...string) []metadata.ScanVuln {
		out := []metadata.ScanVuln{{ID: id, Package: "zlib", Severity: sev}}
		for _, a := range aliases {
			out = append(out, metadata.ScanVuln{ID: a, Package: "zlib", Severity: sev, Finding: id})
		}
		return out
	}
	image("a/debian", slices.Concat(finding("DEBIAN-CVE-2023-45853", "HIGH", "CVE-2023-45853"), finding("GHSA-xxxx", "LOW"))...)
	image("b/other", finding("CVE-2023-45853", "CRITICAL", "DEBIAN-CVE-2023-45853")...)
	image("c/go", finding("GHSA-xxxx", "LOW")...)
	image("d/ghsa", finding("GHSA-aaaa", "MEDIUM", "CVE-2024-2", "CVE-2024-1")...)
	image("e/plain", finding("CVE-2024-2", "LOW")...)

	tests := []struct {
		name     string
		patterns []string
		want     []metadata.VulnCount
	}{
		{"all", nil, []metadata.VulnCount{
			{ID: "CVE-2023-45853", Aliases: []string{"DEBIAN-CVE-2023-45853"}, Severity: "CRITICAL", Images: 2},
			{ID: "CVE-2024-1", Aliases: []string{"CVE-2024-2", "GHSA-aaaa"}, Severity: "MEDIUM", Images: 2},
			{ID: "GHSA-xxxx", Severity: "LOW", Images: 2},
		}},
		{"one repository", []string{"a/*"}, []metadata.VulnCount{
			{ID: "CVE-2023-45853", Aliases: []string{"DEBIAN-CVE-2023-45853"}, Severity: "HIGH", Images: 1},
			{ID: "GHSA-xxxx", Severity: "LOW", Images: 1},
		}},
		{"only the alias's own image", []string{"e/*"}, []metadata.VulnCount{
			{ID: "CVE-2024-1", Aliases: []string{"CVE-2024-2", "GHSA-aaaa"}, Severity: "LOW", Images: 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.TopVulns(ctx, tt.patterns, 10)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("TopVulns(%v) =\n%+v, %v\nwant\n%+v", tt.patterns, got, err, tt.want)
			}
		})
	}
}
