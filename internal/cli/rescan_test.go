package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/remote"
	"github.com/berth-registry/berth/internal/scan/scanner"
	"github.com/berth-registry/berth/internal/server/servertest"
)

func TestRescan(t *testing.T) {
	ctx := context.Background()
	url, im := startScannedServer(t)
	ref := "team/app@" + digest.FromBytes(im.man).String()

	var out, errb bytes.Buffer
	if code := Run(ctx, []string{"rescan", ref, "--registry", url, "--output", "json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var r scanner.Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range r.Findings {
		ids = append(ids, f.ID)
	}
	slices.Sort(ids)
	if r.Status != "complete" || !slices.Equal(ids, allIDs) || r.Summary["HIGH"] != 2 {
		t.Errorf("rescan = %s %v %v, want complete %v", r.Status, ids, r.Summary, allIDs)
	}

	out.Reset()
	if code := Run(ctx, []string{"rescan", ref, "--registry", url}, &out, &errb); code != 0 ||
		!strings.Contains(out.String(), "Status:   complete") || !strings.Contains(out.String(), "HIGH: 2") ||
		!strings.Contains(out.String(), "GO-2022-0956") {
		t.Errorf("table: exit %d\n%s", code, out.String())
	}

	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no digest", []string{"rescan", "team/app:v1", "--registry", url}, ExitUsage, "want REPO@DIGEST"},
		{"no registry", []string{"rescan", ref}, ExitUsage, "--registry is required"},
		{"unknown manifest", []string{"rescan", "team/app@" + digest.FromString("x").String(), "--registry", url}, ExitError, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o, e bytes.Buffer
			if code := Run(ctx, tt.args, &o, &e); code != tt.code || !strings.Contains(e.String(), tt.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, e.String(), tt.code, tt.msg)
			}
		})
	}
}

// startScannedServer starts a server scanning with the Go and Debian test
// advisories and pushes the scan fixture image as team/app:v1.
func startScannedServer(t *testing.T) (string, *scanImage) {
	t.Helper()
	im := newScanImage(t)
	cfg := servertest.Config(t)
	cfg.Scan.DB = "../scan/vulndb/testdata/go,testdata/scan/osv"
	s := servertest.Start(t, cfg)
	ctx := context.Background()
	c, err := remote.New(s.URL(), remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range append(slices.Clone(im.blobs), im.config) {
		if _, err := c.PushBlob(ctx, "team/app", b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.PushManifest(ctx, "team/app", "v1", ocispec.MediaTypeImageManifest, im.man); err != nil {
		t.Fatal(err)
	}
	return s.URL(), im
}
