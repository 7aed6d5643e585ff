package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/remote"
	"github.com/berth-registry/berth/internal/server/servertest"
	"github.com/berth-registry/berth/test/harness"
)

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testImage is an image's parts before they are written anywhere.
type testImage struct {
	arch   string
	layers [][]byte // uncompressed tars
	config []byte
	blobs  [][]byte // gzipped layers as a registry or layout holds them
	man    []byte
}

func newTestImage(t *testing.T, arch string, layerFiles ...map[string]string) *testImage {
	t.Helper()
	im := &testImage{arch: arch}
	cfg := map[string]any{"os": "linux", "architecture": arch, "rootfs": map[string]any{"type": "layers", "diff_ids": []string{}}}
	var diffIDs []digest.Digest
	var ls []map[string]any
	for _, files := range layerFiles {
		raw := tarOf(t, files)
		blob := gz(t, raw)
		im.layers = append(im.layers, raw)
		im.blobs = append(im.blobs, blob)
		diffIDs = append(diffIDs, digest.FromBytes(raw))
		ls = append(ls, map[string]any{"mediaType": ocispec.MediaTypeImageLayerGzip, "digest": digest.FromBytes(blob), "size": len(blob)})
	}
	cfg["rootfs"] = map[string]any{"type": "layers", "diff_ids": diffIDs}
	im.config, _ = json.Marshal(cfg)
	im.man, _ = json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest,
		"config": map[string]any{"mediaType": ocispec.MediaTypeImageConfig, "digest": digest.FromBytes(im.config), "size": len(im.config)},
		"layers": ls,
	})
	return im
}

// writeLayout writes the images into an OCI layout; one image is tagged
// directly, several go under an index tagged with tag.
func writeLayout(t *testing.T, dir, tag string, ims ...*testImage) {
	t.Helper()
	l, err := harness.NewLayout(dir, 1)
	if err != nil {
		t.Fatal(err)
	}
	var ds []ocispec.Descriptor
	for _, im := range ims {
		for _, b := range append(append([][]byte{}, im.blobs...), im.config) {
			if _, err := l.WriteBlob("", b); err != nil {
				t.Fatal(err)
			}
		}
		d, err := l.WriteBlob(ocispec.MediaTypeImageManifest, im.man)
		if err != nil {
			t.Fatal(err)
		}
		d.Platform = &ocispec.Platform{OS: "linux", Architecture: im.arch}
		ds = append(ds, d)
	}
	top := ds[0]
	if len(ds) > 1 {
		idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageIndex, "manifests": ds})
		if top, err = l.WriteBlob(ocispec.MediaTypeImageIndex, idx); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Tag(top, tag); err != nil {
		t.Fatal(err)
	}
}

// writeDockerArchive writes im as docker save does: legacy (<id>/layer.tar,
// <hex>.json, a repeated layer as a symlink) or docker 25+ (blobs/sha256).
func writeDockerArchive(t *testing.T, file string, im *testImage, legacy bool) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	m := dockerManifest{RepoTags: []string{"example/app:1"}}
	cd := digest.FromBytes(im.config)
	if legacy {
		m.Config = cd.Encoded() + ".json"
	} else {
		m.Config = "blobs/sha256/" + cd.Encoded()
	}
	add(m.Config, im.config)
	seen := map[digest.Digest]string{}
	for i, raw := range im.layers {
		d := digest.FromBytes(raw)
		name := "blobs/sha256/" + d.Encoded()
		if legacy {
			name = fmt.Sprintf("%064x/layer.tar", i+1)
		}
		m.Layers = append(m.Layers, name)
		if prev, ok := seen[d]; ok && legacy {
			if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: "../" + prev}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		seen[d] = name
		add(name, raw)
	}
	mb, _ := json.Marshal([]dockerManifest{m})
	add("manifest.json", mb)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

// startBerth serves a real Berth on 127.0.0.1 and returns a client for it.
func startBerth(t *testing.T) *remote.Client {
	t.Helper()
	s := servertest.Start(t, servertest.Config(t))
	c, err := remote.New(s.URL(), remote.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pushImage(t *testing.T, c *remote.Client, repo, tag string, ims ...*testImage) digest.Digest {
	t.Helper()
	ctx := context.Background()
	var ds []map[string]any
	for _, im := range ims {
		for _, b := range append(append([][]byte{}, im.blobs...), im.config) {
			if _, err := c.PushBlob(ctx, repo, b); err != nil {
				t.Fatal(err)
			}
		}
		d, err := c.PushManifest(ctx, repo, digest.FromBytes(im.man).String(), ocispec.MediaTypeImageManifest, im.man)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, map[string]any{"mediaType": ocispec.MediaTypeImageManifest, "digest": d, "size": len(im.man),
			"platform": map[string]string{"os": "linux", "architecture": im.arch}})
	}
	body, mt := ims[0].man, ocispec.MediaTypeImageManifest
	if len(ims) > 1 {
		body, _ = json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageIndex, "manifests": ds})
		mt = ocispec.MediaTypeImageIndex
	}
	d, err := c.PushManifest(ctx, repo, tag, mt, body)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// layerBytes reads every layer of im to its end.
func layerBytes(t *testing.T, im *Image) [][]byte {
	t.Helper()
	var out [][]byte
	for _, l := range im.Layers {
		rc, err := l.Open(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("layer %s: %v", l.Digest(), err)
		}
		out = append(out, b)
	}
	return out
}

func TestOpenSources(t *testing.T) {
	amd := newTestImage(t, "amd64", map[string]string{"etc/os-release": "ID=debian\n"}, map[string]string{"app": "amd"})
	arm := newTestImage(t, "arm64", map[string]string{"etc/os-release": "ID=debian\n"}, map[string]string{"app": "arm"})
	dup := newTestImage(t, "amd64", map[string]string{"same": "x"}, map[string]string{"same": "x"})
	dir := t.TempDir()
	writeLayout(t, filepath.Join(dir, "multi"), "v1", amd, arm)
	writeLayout(t, filepath.Join(dir, "single"), "only", amd)
	writeDockerArchive(t, filepath.Join(dir, "legacy.tar"), dup, true)
	writeDockerArchive(t, filepath.Join(dir, "modern.tar"), amd, false)
	c := startBerth(t)
	host := strings.TrimPrefix(c.Base(), "http://")
	idxDigest := pushImage(t, c, "team/app", "v1", amd, arm)

	tests := []struct {
		name     string
		ref      string
		platform string
		want     *testImage
		blobs    bool // layers come as the gzipped blobs, not the raw tars
		digest   digest.Digest
	}{
		{"layout by tag, default platform", "oci:" + filepath.Join(dir, "multi") + ":v1", "", amd, true, digest.FromBytes(amd.man)},
		{"layout, other platform", "oci:" + filepath.Join(dir, "multi"), "linux/arm64", arm, true, digest.FromBytes(arm.man)},
		{"plain directory", filepath.Join(dir, "single"), "", amd, true, digest.FromBytes(amd.man)},
		{"docker legacy with a linked layer", filepath.Join(dir, "legacy.tar"), "", dup, false, ""},
		{"docker 25+ archive", "docker-archive:" + filepath.Join(dir, "modern.tar"), "", amd, false, ""},
		{"registry by tag", host + "/team/app:v1", "linux/arm64", arm, true, digest.FromBytes(arm.man)},
		{"registry by digest", host + "/team/app@" + idxDigest.String(), "", amd, true, digest.FromBytes(amd.man)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts Options
			if tt.platform != "" {
				p, err := ParsePlatform(tt.platform)
				if err != nil {
					t.Fatal(err)
				}
				opts.Platform = p
			}
			im, err := Open(context.Background(), tt.ref, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			if im.Digest != tt.digest || im.ConfigDigest != digest.FromBytes(tt.want.config) {
				t.Fatalf("digest %s config %s", im.Digest, im.ConfigDigest)
			}
			if im.Platform.String() != "linux/"+tt.want.arch {
				t.Fatalf("platform %s", im.Platform)
			}
			want := tt.want.layers
			if tt.blobs {
				want = tt.want.blobs
			}
			got := layerBytes(t, im)
			if len(got) != len(want) {
				t.Fatalf("%d layers, want %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("layer %d differs", i)
				}
				if im.Layers[i].Digest() != digest.FromBytes(want[i]) {
					t.Fatalf("layer %d digest %s", i, im.Layers[i].Digest())
				}
			}
		})
	}
}

func TestOpenRefusesBadInput(t *testing.T) {
	amd := newTestImage(t, "amd64", map[string]string{"a": "b"})
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	writeLayout(t, good, "v1", amd)

	tampered := filepath.Join(dir, "tampered")
	writeLayout(t, tampered, "v1", amd)
	ld := digest.FromBytes(amd.blobs[0])
	if err := os.WriteFile(filepath.Join(tampered, "blobs", "sha256", ld.Encoded()), gz(t, tarOf(t, map[string]string{"a": "evil"})), 0o644); err != nil {
		t.Fatal(err)
	}

	bigManifest := filepath.Join(dir, "big.tar")
	f, err := os.Create(bigManifest)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	big := bytes.Repeat([]byte(" "), maxJSON+10)
	if err := tw.WriteHeader(&tar.Header{Name: "manifest.json", Mode: 0o644, Size: int64(len(big)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(big)
	tw.Close()
	f.Close()

	gzipped := filepath.Join(dir, "gz.tar")
	if err := os.WriteFile(gzipped, gz(t, []byte("x")), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, ref string
		openErr   string // substring of Open's error; empty: Open works and reading the layer fails
		notFound  bool
	}{
		{"unknown tag", "oci:" + good + ":v2", `no tag "v2"`, true},
		{"no platform match", "oci:" + good + ":v1", "", false},
		{"tampered layer", "oci:" + tampered + ":v1", "", false},
		{"oversized manifest.json", bigManifest, "larger than", false},
		{"gzipped archive", gzipped, "gzip-compressed", false},
		{"missing archive", filepath.Join(dir, "none.tar"), "no such file", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im, err := Open(context.Background(), tt.ref, Options{})
			if tt.openErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.openErr) {
					t.Fatalf("Open error %v, want %q", err, tt.openErr)
				}
				if errors.Is(err, ErrNotFound) != tt.notFound {
					t.Fatalf("errors.Is(ErrNotFound) wrong for %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer im.Close()
			if tt.name == "no platform match" {
				// A single image is scanned whatever its platform: only an
				// index needs choosing.
				return
			}
			rc, err := im.Layers[0].Open(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if _, err := io.ReadAll(rc); err == nil || !strings.Contains(err.Error(), "blob "+ld.String()) {
				t.Fatalf("reading tampered layer: %v", err)
			}
		})
	}
}

func TestParseReference(t *testing.T) {
	tests := []struct {
		in   string
		want Reference
		err  bool
	}{
		{"127.0.0.1:5000/team/app:v1", Reference{Host: "127.0.0.1:5000", Repo: "team/app", Tag: "v1"}, false},
		{"localhost/app", Reference{Host: "localhost", Repo: "app", Tag: "latest"}, false},
		{"alpine", Reference{Host: "registry-1.docker.io", Repo: "library/alpine", Tag: "latest"}, false},
		{"ghcr.io/o/r@sha256:" + strings.Repeat("a", 64), Reference{Host: "ghcr.io", Repo: "o/r", Digest: digest.Digest("sha256:" + strings.Repeat("a", 64))}, false},
		{"ghcr.io/o/R:v1", Reference{}, true},
		{"ghcr.io/o/r@sha256:zz", Reference{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseReference(tt.in)
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("got %+v, %v", got, err)
			}
		})
	}
}
