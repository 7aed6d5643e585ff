package harness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestLayoutIsConsistent checks what every client test relies on: each blob
// is stored under its own digest, every descriptor points at a stored blob of
// the right size, and index.json names each tag once.
func TestLayoutIsConsistent(t *testing.T) {
	l, err := NewLayout(t.TempDir(), 42)
	if err != nil {
		t.Fatal(err)
	}
	single, err := l.Image("linux", "amd64", 1000, 5000)
	if err != nil {
		t.Fatal(err)
	}
	idx, children, err := l.MultiPlatform(2000)
	if err != nil {
		t.Fatal(err)
	}
	// In order: index.json keeps tags in the order they were added.
	for _, tagged := range []struct {
		tag string
		d   ocispec.Descriptor
	}{{"single", single}, {"multi", idx}} {
		if err := l.Tag(tagged.d, tagged.tag); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name      string
		desc      ocispec.Descriptor
		wantBlobs int // manifest + config + layers, or index + children
	}{
		{name: "single image", desc: single, wantBlobs: 4},
		{name: "index", desc: idx, wantBlobs: 1 + 2*3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkTree(t, l.Dir, tt.desc); got != tt.wantBlobs {
				t.Errorf("reachable blobs = %d, want %d", got, tt.wantBlobs)
			}
		})
	}
	if children[0].Platform.Architecture != "amd64" || children[1].Platform.Architecture != "arm64" {
		t.Errorf("platforms = %v, %v; want amd64, arm64", children[0].Platform, children[1].Platform)
	}
	got, err := ReadIndex(l.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Manifests) != 2 || got.Manifests[0].Annotations[ocispec.AnnotationRefName] != "single" ||
		got.Manifests[1].Annotations[ocispec.AnnotationRefName] != "multi" {
		t.Errorf("index.json manifests = %+v, want single then multi", got.Manifests)
	}
}

// checkTree verifies d and everything it references, returning the number
// of blobs visited.
func checkTree(t *testing.T, dir string, d ocispec.Descriptor) int {
	t.Helper()
	p := filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded())
	got, err := SHA256File(p)
	if err != nil {
		t.Fatalf("blob %s: %v", d.Digest, err)
	}
	if got != d.Digest {
		t.Errorf("blob stored as %s hashes to %s", d.Digest, got)
	}
	b, _ := os.ReadFile(p)
	if int64(len(b)) != d.Size {
		t.Errorf("blob %s is %d bytes, descriptor says %d", d.Digest, len(b), d.Size)
	}
	n := 1
	switch d.MediaType {
	case ocispec.MediaTypeImageManifest:
		var m ocispec.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for _, c := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
			n += checkTree(t, dir, c)
		}
	case ocispec.MediaTypeImageIndex:
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			t.Fatal(err)
		}
		for _, c := range idx.Manifests {
			n += checkTree(t, dir, c)
		}
	}
	return n
}
