package server

import (
	"archive/zip"
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
)

// POST /api/v1/vulndb/import with auth on: only an admin may replace the
// database; the others are refused before anything is stored.
func TestVulndbImportNeedsAdmin(t *testing.T) {
	cfg := authConfig(t)
	s, _, _ := start(t, cfg)
	pw, _ := os.ReadFile(filepath.Join(cfg.DataDir, adminPasswordFile))
	addUser(t, s, "wr", "writer-pass", false, metadata.Grant{Pattern: "team/*", Role: "writer"})

	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.Create("GO-1.json")
	w.Write([]byte(`{"id":"GO-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Go","name":"example.com/m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]}]}`))
	zw.Close()

	for _, tt := range []struct {
		name       string
		user, pass string
		want       int
	}{
		{"anonymous", "", "", http.StatusUnauthorized},
		{"writer", "wr", "writer-pass", http.StatusForbidden},
		{"admin", "admin", strings.TrimSpace(string(pw)), http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, s.URL()+"/api/v1/vulndb/import?name=Go-all.zip", bytes.NewReader(zb.Bytes()))
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			_, err = os.Stat(filepath.Join(cfg.DataDir, "vulndb", "Go-all.zip"))
			if stored := err == nil; stored != (tt.want == http.StatusOK) {
				t.Errorf("zip stored: %v after a %d", stored, resp.StatusCode)
			}
		})
	}
}
