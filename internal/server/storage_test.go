package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/config"
)

func call(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// TestStorageEndpoints drives GC, its history, usage and a quota through
// a real server built from configuration.
func TestStorageEndpoints(t *testing.T) {
	cfg := testConfig(t)
	cfg.Quota.Repositories = config.List("small=10")
	s, _, _ := start(t, cfg)
	base := s.URL()

	orphan := "an orphan blob"
	d := digest.FromString(orphan)
	if st, body := call(t, http.MethodPost, base+"/v2/big/blobs/uploads/?digest="+d.String(), orphan); st != http.StatusCreated {
		t.Fatalf("push: %d %s", st, body)
	}
	if st, body := call(t, http.MethodPost, base+"/v2/small/blobs/uploads/?digest="+d.String(), orphan); st != http.StatusForbidden ||
		!strings.Contains(body, "quota exceeded: repository small uses 0 of 10 bytes") {
		t.Errorf("push over quota: %d %s", st, body)
	}
	// Unlinking makes the blob garbage; a grace of zero collects it now.
	if st, _ := call(t, http.MethodDelete, base+"/v2/big/blobs/"+d.String(), ""); st != http.StatusAccepted {
		t.Fatalf("blob delete: %d", st)
	}
	var usage struct {
		StoredBytes      int64 `json:"storedBytes"`
		ReclaimableBytes int64 `json:"reclaimableBytes"`
	}
	// Metadata knows linked blobs only; the walk finds the orphan file.
	for _, u := range []struct {
		query string
		want  int64
	}{{"", 0}, {"?exact=false", 0}, {"?exact=true", int64(len(orphan))}} {
		st, body := call(t, http.MethodGet, base+"/api/v1/usage"+u.query, "")
		if err := json.Unmarshal([]byte(body), &usage); st != http.StatusOK || err != nil || usage.StoredBytes != u.want {
			t.Errorf("usage%s: %d %s, want %d stored bytes", u.query, st, body, u.want)
		}
	}
	if st, body := call(t, http.MethodGet, base+"/api/v1/usage?exact=maybe", ""); st != http.StatusBadRequest {
		t.Errorf("usage?exact=maybe: %d %s, want 400", st, body)
	}
	tests := []struct {
		query       string
		wantDeleted int
	}{
		{"?dry_run=true&grace=0s", 1},
		{"", 0}, // the default grace period of 1h protects the fresh file
		{"?grace=0s", 1},
	}
	for _, tc := range tests {
		t.Run("gc"+tc.query, func(t *testing.T) {
			st, body := call(t, http.MethodPost, base+"/api/v1/gc"+tc.query, "")
			var res struct {
				Deleted int `json:"blobsDeleted"`
			}
			if err := json.Unmarshal([]byte(body), &res); st != http.StatusOK || err != nil || res.Deleted != tc.wantDeleted {
				t.Errorf("POST /api/v1/gc%s: %d %s", tc.query, st, body)
			}
		})
	}
	st, body := call(t, http.MethodGet, base+"/api/v1/gc/runs", "")
	var runs struct {
		Runs []struct {
			DryRun bool `json:"dryRun"`
			Blobs  int  `json:"blobsDeleted"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(body), &runs); st != http.StatusOK || err != nil || len(runs.Runs) != 3 || !runs.Runs[2].DryRun || runs.Runs[0].Blobs != 1 {
		t.Errorf("GET /api/v1/gc/runs: %d %s", st, body)
	}
	if st, _ := call(t, http.MethodGet, base+"/api/v1/gc", ""); st != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/v1/gc: %d, want 405", st)
	}
}
