package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/test/harness"
)

// TestUploadSurvivesRestart starts a chunked upload, stops the server
// (SIGTERM, as an operator's restart does), starts a new process on the same
// data directory and finishes the upload where the status says it ended.
func TestUploadSurvivesRestart(t *testing.T) {
	t.Parallel()
	if harness.Target() != harness.TargetBerth {
		t.Skip("restart with the same data directory is berth-specific in this harness")
	}
	dir := t.TempDir()
	opts := harness.Options{Kind: harness.TargetBerth, BerthBin: berthBin, DataDir: filepath.Join(dir, "data"), LogDir: dir}
	first, err := harness.StartServer(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			first.Stop()
		}
	}()

	blob := make([]byte, 3<<20)
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	half := len(blob) / 2
	loc := strings.TrimPrefix(startUpload(t, first.URL(), "e2e/restart"), first.URL())
	patch(t, first.URL()+loc, blob[:half], 0)
	if err := first.Stop(); err != nil {
		t.Logf("stopping first server: %v", err)
	}
	stopped = true

	second, err := harness.StartServer(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Stop()

	req, _ := http.NewRequest(http.MethodGet, second.URL()+loc, nil)
	resp := mustStatus(t, req, http.StatusNoContent)
	if got, want := resp.Header.Get("Range"), fmt.Sprintf("0-%d", half-1); got != want {
		t.Fatalf("Range after restart = %q, want %q", got, want)
	}
	patch(t, second.URL()+loc, blob[half:], half)
	d := digest.FromBytes(blob)
	req, _ = http.NewRequest(http.MethodPut, withDigest(t, second.URL()+loc, d), nil)
	mustStatus(t, req, http.StatusCreated)
	resp, err = http.Get(second.URL() + "/v2/e2e/restart/blobs/" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, int64(2*len(blob))))
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, blob) {
		t.Fatalf("download after restart: status %d, %d bytes, equal=%v", resp.StatusCode, len(got), bytes.Equal(got, blob))
	}
}

// patch sends one chunk with its Content-Range and expects 202.
func patch(t *testing.T, loc string, chunk []byte, offset int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPatch, loc, bytes.NewReader(chunk))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", offset, offset+len(chunk)-1))
	mustStatus(t, req, http.StatusAccepted)
}
