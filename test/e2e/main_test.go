// Package e2e drives a live registry (berth by default, or the peer chosen
// with BERTH_TARGET=docker-registry) with real clients: skopeo, crane,
// regctl, oras and helm, plus raw HTTP for flows no client isolates.
// Images are built locally as OCI layouts; nothing leaves 127.0.0.1.
package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/berth-registry/berth/test/harness"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// berthBin is built once by TestMain; each test starts its own process.
var berthBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if harness.Target() == harness.TargetBerth {
		dir, err := os.MkdirTemp("", "berth-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		start := time.Now()
		if berthBin, err = harness.BuildBerth(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "e2e: built berth in %s\n", time.Since(start).Round(time.Millisecond))
	}
	return m.Run()
}

// newRegistry starts the selected registry for one test.
func newRegistry(t *testing.T) *harness.Server {
	t.Helper()
	return harness.Start(t, berthBin)
}

// newLayout creates an OCI layout in a temp dir.
func newLayout(t *testing.T) *harness.Layout {
	t.Helper()
	l, err := harness.NewLayout(t.TempDir(), uint64(time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// singleImage writes a two-layer linux/amd64 image tagged tag.
func singleImage(t *testing.T, l *harness.Layout, tag string) ocispec.Descriptor {
	t.Helper()
	d, err := l.Image("linux", "amd64", 64<<10, 200<<10)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Tag(d, tag); err != nil {
		t.Fatal(err)
	}
	return d
}

// multiImage writes a two-platform index tagged tag.
func multiImage(t *testing.T, l *harness.Layout, tag string) (ocispec.Descriptor, []ocispec.Descriptor) {
	t.Helper()
	idx, ms, err := l.MultiPlatform(32 << 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Tag(idx, tag); err != nil {
		t.Fatal(err)
	}
	return idx, ms
}

// indexDigestOf returns the digest index.json of a pulled layout records for tag
// (or the only entry when tag is empty).
func indexDigestOf(t *testing.T, dir, tag string) string {
	t.Helper()
	idx, err := harness.ReadIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range idx.Manifests {
		if tag == "" || m.Annotations[ocispec.AnnotationRefName] == tag {
			return m.Digest.String()
		}
	}
	t.Fatalf("no manifest for tag %q in %s/index.json: %+v", tag, dir, idx.Manifests)
	return ""
}
