package e2e

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/test/harness"
)

// TestGarbageCollection pushes two images with crane, deletes one (into
// the recycle bin, which must keep its blobs), empties the bin, collects
// with berth gc through the server, and pulls the survivor.
func TestGarbageCollection(t *testing.T) {
	t.Parallel()
	if harness.Target() != harness.TargetBerth {
		t.Skip("berth gc is Berth's own")
	}
	crane := harness.Tool(t, "crane")
	srv := newRegistry(t)
	la, lb := newLayout(t), newLayout(t)
	a := singleImage(t, la, "v1").Digest.String()
	b := singleImage(t, lb, "v1").Digest.String()
	repoA, repoB := srv.Addr+"/e2e/gc/a", srv.Addr+"/e2e/gc/b"
	harness.Run(t, nil, crane, "push", la.Dir, repoA+":v1", "--insecure")
	harness.Run(t, nil, crane, "push", lb.Dir, repoB+":v1", "--insecure")
	harness.Run(t, nil, crane, "delete", repoB+"@"+b, "--insecure")

	type result struct {
		Blobs int   `json:"blobsDeleted"`
		Bytes int64 `json:"bytesDeleted"`
	}
	gc := func() result {
		t.Helper()
		out := harness.Run(t, nil, berthBin, "gc", "--registry", srv.URL(), "--grace", "0s", "--output", "json")
		var r result
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("berth gc output %q: %v", out, err)
		}
		return r
	}
	if r := gc(); r.Blobs != 0 {
		t.Errorf("gc deleted %d blobs of a manifest in the recycle bin", r.Blobs)
	}
	resp, err := http.Post(srv.URL()+"/api/v1/trash/empty", "application/json", strings.NewReader(`{"olderThan":"0s"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("emptying the trash: %s", resp.Status)
	}
	// Both layers of b go; its config may be byte-identical to a's.
	if r := gc(); r.Blobs < 2 || r.Blobs > 3 || r.Bytes < (64+200)<<10 {
		t.Errorf("gc after emptying the trash = %+v, want b's 2 layers (and maybe its config)", r)
	}
	dst := filepath.Join(t.TempDir(), "pulled")
	harness.Run(t, nil, crane, "pull", "--format", "oci", repoA+":v1", dst, "--insecure")
	if got := indexDigestOf(t, dst, ""); got != a {
		t.Errorf("pulled %s after gc, want %s", got, a)
	}
	var usage struct {
		StoredBlobs      int   `json:"storedBlobs"`
		ReclaimableBytes int64 `json:"reclaimableBytes"`
	}
	out := harness.Run(t, nil, berthBin, "usage", "--registry", srv.URL(), "--output", "json")
	if err := json.Unmarshal([]byte(out), &usage); err != nil || usage.StoredBlobs != 3 || usage.ReclaimableBytes != 0 {
		t.Errorf("berth usage after gc: %v %s", err, out)
	}
}
