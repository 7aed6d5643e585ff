package registry

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

func TestReadLockRefusesBlobs(t *testing.T) {
	ctx := context.Background()
	env := newLifecycleEnv(t)
	env.pushManifest("hidden", "v1", imageType, env.testImage("hidden", ""))
	env.pushManifest("open", "v1", imageType, env.testImage("open", ""))
	hidden := digest.FromBytes([]byte("layer hidden")).String()
	open := digest.FromBytes([]byte("layer open")).String()
	locks := []metadata.Lock{
		{Repo: "hidden", WriteEnabled: true, DeleteEnabled: true},
		// A write lock does not stop reads.
		{Repo: "open", DeleteEnabled: true, ReadEnabled: true},
	}
	for _, l := range locks {
		if err := env.meta.SetLock(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	const msg = "repository hidden is locked (read-enabled=false)"
	tests := []struct {
		name, method, path string
		status             int
		want               string // in the error body, for GET refusals
	}{
		{"GET blob of read-locked repository", http.MethodGet, "/v2/hidden/blobs/" + hidden, http.StatusForbidden, msg},
		{"HEAD blob of read-locked repository", http.MethodHead, "/v2/hidden/blobs/" + hidden, http.StatusForbidden, ""},
		// Refused before the existence check: no probing for digests.
		{"GET absent blob of read-locked repository", http.MethodGet, "/v2/hidden/blobs/" + digest.FromString("nope").String(), http.StatusForbidden, msg},
		{"GET blob of write-locked repository", http.MethodGet, "/v2/open/blobs/" + open, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := env.do(tt.method, tt.path, nil)
			if r.status != tt.status {
				t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, r.status, r.body, tt.status)
			}
			if tt.want != "" && (errCode(t, r.body) != "DENIED" || !strings.Contains(string(r.body), tt.want)) {
				t.Errorf("%s %s body %s, want DENIED %q", tt.method, tt.path, r.body, tt.want)
			}
			if tt.status == http.StatusOK && tt.method == http.MethodGet && string(r.body) != "layer open" {
				t.Errorf("GET %s = %q, want the layer", tt.path, r.body)
			}
		})
	}
	// Clearing the lock makes the blob readable again.
	if err := env.meta.ClearLock(ctx, "hidden", "", ""); err != nil {
		t.Fatal(err)
	}
	if r := env.do(http.MethodGet, "/v2/hidden/blobs/"+hidden, nil); r.status != http.StatusOK || string(r.body) != "layer hidden" {
		t.Errorf("GET after ClearLock = %d %q", r.status, r.body)
	}
}
