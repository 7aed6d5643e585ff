package server

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/metadata"
)

// TestScanOfDeletedManifest: a manifest in the recycle bin keeps its scan,
// and a restore shows the same findings without scanning again; once the
// manifest is gone for good (purged, or deleted with no bin) the scan,
// its inventory and its findings are gone too.
func TestScanOfDeletedManifest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		trashDays int
	}{
		{"recycle bin then purge", 7},
		{"no recycle bin", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			osv := t.TempDir()
			if err := os.WriteFile(filepath.Join(osv, "a.json"), []byte(sbomZlibAdvisory), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := testConfig(t)
			cfg.Scan.DB = config.List(osv)
			cfg.Lifecycle.TrashDays = tc.trashDays
			s, _, _ := start(t, cfg)
			base, ctx := s.URL(), t.Context()
			layer := gzLayer(t, map[string][]byte{"etc/os-release": []byte(scanOSRelease), "var/lib/dpkg/status": []byte(scanDpkgStatus)})
			d := pushScanImage(t, base, "team/app", "v1", layer)
			before := waitScan(t, base, "team/app", d)
			if before.Status != metadata.ScanComplete || len(before.Findings) != 1 {
				t.Fatalf("scan: %s %d findings", before.Status, len(before.Findings))
			}
			if code := scanGet(t, http.MethodDelete, fmt.Sprintf("%s/v2/team/app/manifests/%s", base, d), nil); code != http.StatusAccepted {
				t.Fatalf("DELETE manifest: %d", code)
			}
			if tc.trashDays > 0 {
				if _, err := s.meta.(metadata.Scans).Scan(ctx, d); err != nil {
					t.Fatalf("scan of a manifest in the recycle bin: %v, want kept", err)
				}
				postJSON(t, base+"/api/v1/trash/restore", fmt.Sprintf(`{"repository":"team/app","digest":%q}`, d))
				after := waitScan(t, base, "team/app", d)
				if after.Status != metadata.ScanComplete || len(after.Findings) != 1 || after.Findings[0].ID != "DEBIAN-CVE-2023-45853" ||
					after.Finished == nil || !after.Finished.Equal(*before.Finished) {
					t.Fatalf("after restore: %s %v finished %v, want the scan of %v unchanged", after.Status, after.Findings, after.Finished, before.Finished)
				}
				scanGet(t, http.MethodDelete, fmt.Sprintf("%s/v2/team/app/manifests/%s", base, d), nil)
				postJSON(t, base+"/api/v1/trash/empty", `{"repository":"team/app","olderThan":"0s"}`)
			}
			if rec, err := s.meta.(metadata.Scans).Scan(ctx, d); !errors.Is(err, metadata.ErrNotFound) {
				t.Fatalf("scan of a deleted manifest: %+v %v, want ErrNotFound", rec, err)
			}
			// Pushed again, the content is scanned again from its layers.
			d2 := pushScanImage(t, base, "team/app", "v1", layer)
			if again := waitScan(t, base, "team/app", d2); d2 != d || again.Status != metadata.ScanComplete || !again.Finished.After(*before.Finished) {
				t.Fatalf("push after deletion: %s %s finished %v", d2, again.Status, again.Finished)
			}
		})
	}
}

func postJSON(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("POST %s %s: %d", url, body, resp.StatusCode)
	}
}
