package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/lifecycle/quota"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/storage/fsblob"
)

// TestUsagePaging: the per-repository table shows 100 repositories a
// page, largest first, with links between pages; a page past the end
// shows the last.
func TestUsagePaging(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	blobs, err := fsblob.Open(ctx, t.TempDir(), fsblob.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var report quota.Report
	for i := range 250 {
		report.Repositories = append(report.Repositories, quota.RepoUsage{Name: fmt.Sprintf("r/%03d", i), Bytes: int64(1000 + i)})
	}
	u, err := New(Options{Store: db, Blobs: blobs, Usage: func(context.Context) (quota.Report, error) { return report, nil }})
	if err != nil {
		t.Fatal(err)
	}
	u.usage.get()
	<-u.usage.done
	tests := []struct {
		query      string
		has, lacks []string
	}{
		{"", []string{">r/249<", ">r/150<", "Page 1 of 3 (250 repositories", `href="/ui/usage?page=2" rel="next"`}, []string{">r/149<", `rel="prev"`}},
		{"?page=2", []string{">r/149<", ">r/050<", `href="/ui/usage?page=1" rel="prev"`, `href="/ui/usage?page=3" rel="next"`}, []string{">r/150<", ">r/049<"}},
		{"?page=3", []string{">r/049<", ">r/000<", "Page 3 of 3"}, []string{">r/050<", `rel="next"`}},
		{"?page=99", []string{"Page 3 of 3", ">r/000<"}, nil},
		{"?page=x", []string{"Page 1 of 3", ">r/249<"}, nil},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		u.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/ui/usage"+tt.query, nil))
		body := rec.Body.String()
		if rec.Code != 200 {
			t.Fatalf("GET /ui/usage%s = %d", tt.query, rec.Code)
		}
		for _, s := range tt.has {
			if !strings.Contains(body, s) {
				t.Errorf("GET /ui/usage%s lacks %q", tt.query, s)
			}
		}
		for _, s := range tt.lacks {
			if strings.Contains(body, s) {
				t.Errorf("GET /ui/usage%s has %q", tt.query, s)
			}
		}
	}
}
