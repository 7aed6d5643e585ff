package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestQueryPlans keeps the lookup paths on indexes: a full scan of
// manifests or tags would pass every functional test and still make pulls
// slow on a large registry.
func TestQueryPlans(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		name  string
		query string
		args  []any
		uses  string // an index the plan must name
	}{
		{"manifest by digest", manifestByDigestSQL, []any{"r", "d"}, "sqlite_autoindex_manifests_1 (repo_id=? AND digest=?)"},
		{"manifest by tag", manifestByTagSQL, []any{"r", "t"}, "sqlite_autoindex_tags_1 (repo_id=? AND name=?)"},
		{"referrers", referrersSQL, []any{"r", "d", "", "", 10}, "manifests_referrers"},
		{"find blob", findBlobSQL, []any{"d"}, "repo_blobs_by_digest"},
		{"tags of a manifest", tagsOfManifestSQL, []any{1, "d"}, "tags_by_digest"},
		{"tag details by name", `SELECT t.name, ` + tagSize + ` FROM tags t
			JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
			WHERE t.repo_id = ? AND t.name > ? ORDER BY t.name LIMIT ?`, []any{1, "", 10}, "sqlite_autoindex_tags_1 (repo_id=? AND name>?)"},
		{"tags by time", `SELECT name FROM tags t WHERE t.repo_id = ? AND (t.updated > ? OR (t.updated = ? AND t.name > ?))
			ORDER BY t.updated, t.name LIMIT ?`, []any{1, 0, 0, "", 10}, "tags_by_updated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := s.r.Query("EXPLAIN QUERY PLAN "+tt.query, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(plan, "\n"), tt.uses) {
				t.Errorf("plan does not use %s:\n%s", tt.uses, strings.Join(plan, "\n"))
			}
			for _, step := range plan {
				if strings.HasPrefix(step, "SCAN ") || strings.Contains(step, "TEMP B-TREE") {
					t.Errorf("plan step %q:\n%s", step, strings.Join(plan, "\n"))
				}
			}
		})
	}
}
