package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// TestRepoStatsExact drives a store through random pushes (the same
// content in several repositories), retags, tag and manifest deletes,
// trash, restores, purges, unlinks, pulls and scans (up, down, clean), and
// after each step compares every repo_stats column with the expressions
// the browse queries used before it, and every sorted page with the
// order those expressions give. At the end it rebuilds repo_stats by the
// migration's backfill and compares again.
func TestRepoStatsExact(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "meta.db")
			s, err := Open(ctx, path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { s.Close() }()
			rng := rand.New(rand.NewPCG(seed, 0))
			repos := []string{"a/one", "a/two", "b/three", "c/four", "c/five"}
			tagNames := []string{"latest", "v1", "v2", "v3"}
			severities := []string{"CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN"}
			base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			type ref struct {
				repo string
				d    digest.Digest
			}
			var refs []ref
			pick := func() (ref, bool) {
				if len(refs) == 0 {
					return ref{}, false
				}
				return refs[rng.IntN(len(refs))], true
			}
			for step := range 400 {
				repo := repos[rng.IntN(len(repos))]
				tag := tagNames[rng.IntN(len(tagNames))]
				var op string
				switch k := rng.IntN(12); k {
				case 0, 1, 2:
					op = "push"
					n := rng.IntN(25) // a small pool: the same digest lands in several repositories
					layer := digest.FromString(fmt.Sprint("layer", n))
					if err := s.LinkBlob(ctx, repo, layer, int64(100+n)); err != nil {
						t.Fatal(err)
					}
					content := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","n":%d}`, n)
					m := &metadata.Manifest{Repo: repo, Digest: digest.FromBytes(content), MediaType: "application/vnd.oci.image.manifest.v1+json",
						Size: int64(len(content)), Content: content, Blobs: []digest.Digest{layer},
						PushedAt: base.Add(time.Duration(rng.IntN(1000)) * time.Minute)}
					var tags []string
					if rng.IntN(3) > 0 {
						tags = []string{tag}
					}
					if err := s.PutManifest(ctx, m, tags); err != nil {
						t.Fatal(err)
					}
					refs = append(refs, ref{repo, m.Digest})
				case 3:
					op = "delete tag"
					_ = s.DeleteTag(ctx, repo, tag)
				case 4:
					op = "delete manifest"
					if r, ok := pick(); ok {
						_, _ = s.DeleteManifest(ctx, r.repo, r.d)
					}
				case 5:
					op = "trash tag"
					_ = s.TrashTag(ctx, repo, tag)
				case 6:
					op = "trash manifest"
					if r, ok := pick(); ok {
						_, _ = s.TrashManifest(ctx, r.repo, r.d)
					}
				case 7:
					op = "restore"
					if r, ok := pick(); ok {
						_, _ = s.Restore(ctx, r.repo, "", r.d, rng.IntN(2) == 0)
					}
					_, _ = s.Restore(ctx, repo, tag, "", true)
				case 8:
					op = "purge"
					if rng.IntN(3) == 0 {
						_, _ = s.PurgeTrash(ctx, repo, time.Now().Add(time.Hour))
					}
				case 9:
					op = "scan"
					if r, ok := pick(); ok {
						var vulns []metadata.ScanVuln
						for i := range rng.IntN(3) {
							vulns = append(vulns, metadata.ScanVuln{ID: fmt.Sprint("CVE-", i), Package: "p", Severity: severities[rng.IntN(len(severities))]})
						}
						_ = s.SaveScan(ctx, &metadata.ScanRecord{Digest: r.d, Status: metadata.ScanComplete, Vulns: vulns}, nil)
					}
				case 10:
					op = "pull"
					if r, ok := pick(); ok {
						_ = s.RecordPulls(ctx, []metadata.Pull{{Repo: r.repo, Digest: r.d, At: base.Add(time.Duration(rng.IntN(2000)) * time.Minute)}})
					}
				case 11:
					op = "unlink"
					_ = s.UnlinkBlob(ctx, repo, digest.FromString(fmt.Sprint("layer", rng.IntN(25))))
				}
				if !checkRepoStats(t, s, fmt.Sprintf("step %d (%s)", step, op)) {
					return
				}
			}
			// The migration's backfill computes the same table.
			if _, err := s.w.ExecContext(ctx, `DELETE FROM repo_stats`); err != nil {
				t.Fatal(err)
			}
			if _, err := s.w.ExecContext(ctx, repoStatsBackfill()); err != nil {
				t.Fatal(err)
			}
			checkRepoStats(t, s, "after the backfill")
		})
	}
}

// checkRepoStats compares repo_stats with the old expressions, and every
// order of BrowseRepos with the old ORDER BY.
func checkRepoStats(t *testing.T, s *Store, when string) bool {
	t.Helper()
	ctx := context.Background()
	read := func(q string) []string {
		rows, err := s.r.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id, tags, size, pushed, pulled, sev int64
			if err := rows.Scan(&id, &tags, &size, &pushed, &pulled, &sev); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(id, " tags ", tags, " size ", size, " pushed ", pushed, " pulled ", pulled, " sev ", sev))
		}
		return out
	}
	want := read(`SELECT r.id, ` + browseTags + `, ` + browseSize + `, ` + browsePushed + `, ` + browsePulled + `, ` + browseSeverity + `
		FROM repositories r ORDER BY r.id`)
	got := read(`SELECT id, tags, size, pushed, pulled, severity FROM repo_stats ORDER BY id`)
	if !slices.Equal(got, want) {
		t.Errorf("%s: repo_stats\n%q\nwant\n%q", when, got, want)
		return false
	}
	old := map[metadata.RepoSort]string{metadata.SortByTags: browseTags, metadata.SortBySize: browseSize,
		metadata.SortByPushed: browsePushed, metadata.SortByPulled: browsePulled, metadata.SortBySeverity: browseSeverity}
	for sort, key := range old {
		for _, desc := range []bool{false, true} {
			dir := map[bool]string{false: "ASC", true: "DESC"}[desc]
			wantNames, err := queryStrings(ctx, s.r, `SELECT r.name FROM repositories r ORDER BY `+key+` `+dir+`, r.name `+dir)
			if err != nil {
				t.Fatal(err)
			}
			rows, _, err := s.BrowseRepos(ctx, metadata.RepoQuery{Sort: sort, Desc: desc})
			if err != nil {
				t.Fatal(err)
			}
			var gotNames []string
			for _, r := range rows {
				gotNames = append(gotNames, r.Name)
			}
			if !slices.Equal(gotNames, wantNames) {
				t.Errorf("%s: BrowseRepos(sort %d, desc %v) = %v, the old order is %v", when, sort, desc, gotNames, wantNames)
				return false
			}
		}
	}
	return true
}
