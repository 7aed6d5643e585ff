package inventory

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// nestedJar builds a jar nested depth levels deep, each level with its own
// pom.properties (artifact "lvl1" outermost).
func nestedJar(t *testing.T, depth int) []byte {
	var inner []byte
	for lvl := depth; lvl >= 1; lvl-- {
		files := map[string][]byte{
			"META-INF/maven/org.example/lvl" + string(rune('0'+lvl)) + "/pom.properties": pomProps("org.example", "lvl"+string(rune('0'+lvl)), "1.0"),
		}
		if inner != nil {
			files["lib/inner.jar"] = inner
		}
		inner = zipBytes(t, files)
	}
	return inner
}

func TestReadHostileLayers(t *testing.T) {
	escapeDir := t.TempDir()
	hugeLine := "Package: big\nStatus: install ok installed\nVersion: 1\nDescription: " + strings.Repeat("A", 2<<20) + "\n"
	manyEntries := make([]entry, 0, 300)
	for i := range 300 {
		manyEntries = append(manyEntries, dir(strings.Repeat("d/", i%50)+"x"))
	}
	zeros := make([]byte, 32<<20)
	zipBomb := zipBytes(t, map[string][]byte{"lib/bomb.jar": zeros})

	tests := []struct {
		name       string
		limits     Limits
		layers     [][]entry
		wantStatus Status
		wantReason string   // substring of one reason
		wantPkgs   []string // names found, in inventory order
	}{
		{
			name:       "path traversal names are skipped",
			layers:     [][]entry{{file("../../../var/lib/dpkg/status", dpkgStatus), file("a/../../etc/os-release", debianOSRelease)}},
			wantStatus: StatusPartial, wantReason: "2 entries with unsafe or overlong names skipped",
		},
		{
			name:       "absolute names are relative to the image root",
			layers:     [][]entry{{file("/var/lib/dpkg/status", "Package: a\nVersion: 1\n"), file("./lib/apk/db/installed", "P:b\nV:2\n")}},
			wantStatus: StatusComplete, wantPkgs: []string{"b", "a"},
		},
		{
			name: "symlinks to the host are not followed",
			layers: [][]entry{{
				symlink("var/lib/dpkg", "/var/lib/dpkg"),
				symlink("etc/os-release", "/etc/os-release"),
				symlink("lib/apk/db/installed", "../../../../../../lib/apk/db/installed"),
			}},
			wantStatus: StatusComplete,
		},
		{
			name: "a file under a symlinked directory is read from the image, never written",
			layers: [][]entry{
				{symlink("var/lib/dpkg", escapeDir)},
				{file("var/lib/dpkg/status", "Package: a\nVersion: 1\n")},
			},
			wantStatus: StatusComplete, wantPkgs: []string{"a"},
		},
		{
			name:       "hard links out of the image are ignored",
			layers:     [][]entry{{hardlink("var/lib/dpkg/status", "../../../../var/lib/dpkg/status"), hardlink("etc/os-release", "/etc/os-release")}},
			wantStatus: StatusComplete,
		},
		{
			name: "devices and FIFOs are not opened",
			layers: [][]entry{{
				{name: "var/lib/dpkg/status", typ: tar.TypeFifo},
				{name: "lib/apk/db/installed", typ: tar.TypeChar},
				{name: "etc/os-release", typ: tar.TypeBlock},
			}},
			wantStatus: StatusComplete,
		},
		{
			name:       "decompression bomb hits the byte cap",
			limits:     Limits{MaxUncompressedBytes: 4 << 20},
			layers:     [][]entry{{binFile("zeros", zeros)}, {file("var/lib/dpkg/status", "Package: a\nVersion: 1\n")}},
			wantStatus: StatusPartial, wantReason: "uncompressed size cap of 4194304 bytes reached",
		},
		{
			name:       "zip bomb inside a jar hits the byte cap",
			limits:     Limits{MaxUncompressedBytes: 8 << 20},
			layers:     [][]entry{{binFile("app.jar", zipBomb)}},
			wantStatus: StatusPartial, wantReason: "uncompressed size cap",
		},
		{
			name:       "huge database line over the file cap",
			limits:     Limits{MaxFileSize: 1 << 20},
			layers:     [][]entry{{file("var/lib/dpkg/status", hugeLine), file("lib/apk/db/installed", "P:b\nV:2\n")}},
			wantStatus: StatusPartial, wantReason: fmt.Sprintf("var/lib/dpkg/status: %d bytes exceeds the 1048576-byte cap", len(hugeLine)),
			wantPkgs: []string{"b"},
		},
		{
			name:       "huge database line within the file cap parses",
			layers:     [][]entry{{file("var/lib/dpkg/status", hugeLine)}},
			wantStatus: StatusComplete, wantPkgs: []string{"big"},
		},
		{
			name:       "deep tree beyond the name cap",
			layers:     [][]entry{{file(strings.Repeat("d/", 3000)+"var/lib/dpkg/status", "Package: a\nVersion: 1\n"), file(strings.Repeat("d/", 1000)+"x", "y")}},
			wantStatus: StatusPartial, wantReason: "1 entries with unsafe or overlong names skipped",
		},
		{
			name:       "too many entries",
			limits:     Limits{MaxEntries: 100},
			layers:     [][]entry{manyEntries, {file("var/lib/dpkg/status", "Package: a\nVersion: 1\n")}},
			wantStatus: StatusPartial, wantReason: "entry cap of 100 reached",
		},
		{
			name:       "nested jars beyond the depth cap",
			limits:     Limits{MaxNestingDepth: 3},
			layers:     [][]entry{{binFile("app.jar", nestedJar(t, 5))}},
			wantStatus: StatusPartial, wantReason: "app.jar!/lib/inner.jar!/lib/inner.jar!/lib/inner.jar: archive nested deeper than 3 levels",
			wantPkgs: []string{"org.example:lvl1", "org.example:lvl2", "org.example:lvl3"},
		},
		{
			name:       "oversized executable",
			limits:     Limits{MaxBinarySize: 4096},
			layers:     [][]entry{{exe("bin/app", append([]byte("\x7fELF"), make([]byte, 8192)...))}},
			wantStatus: StatusPartial, wantReason: "bin/app: executable of 8196 bytes exceeds the 4096-byte cap",
		},
		{
			name:       "unparsable dpkg database names the file",
			layers:     [][]entry{{file("var/lib/dpkg/status", "Package: a\nVersion: 1\n\ngarbage without colon\n")}},
			wantStatus: StatusPartial, wantReason: "var/lib/dpkg/status: cannot parse: line 4",
			wantPkgs: []string{"a"},
		},
		{
			name:       "unparsable apk database names the file",
			layers:     [][]entry{{file("lib/apk/db/installed", "\x00\x01\x02binary")}},
			wantStatus: StatusPartial, wantReason: "lib/apk/db/installed: cannot parse",
		},
		{
			name:       "not a zip named .jar",
			layers:     [][]entry{{binFile("app.jar", []byte("PK but not really"))}},
			wantStatus: StatusPartial, wantReason: "app.jar: not a readable archive",
		},
		{
			name:       "truncated rpm sqlite database names the file",
			layers:     [][]entry{{binFile("var/lib/rpm/rpmdb.sqlite", []byte("SQLite format 3\x00"))}},
			wantStatus: StatusPartial, wantReason: "var/lib/rpm/rpmdb.sqlite: cannot parse",
		},
		{
			name:       "rpm Berkeley DB that is something else names the file",
			layers:     [][]entry{{binFile("var/lib/rpm/Packages", bytes.Repeat([]byte{0xff}, 4096))}},
			wantStatus: StatusPartial, wantReason: "var/lib/rpm/Packages: cannot parse: malformed rpm database",
		},
		{
			name:       "rpm database deleted in a later layer",
			layers:     [][]entry{{binFile("usr/lib/sysimage/rpm/Packages.db", []byte("x"))}, {whiteout("usr/lib/sysimage/.wh.rpm")}},
			wantStatus: StatusComplete,
		},
		{
			name:       "time limit",
			limits:     Limits{Timeout: time.Nanosecond},
			layers:     [][]entry{{file("var/lib/dpkg/status", "Package: a\nVersion: 1\n")}},
			wantStatus: StatusPartial, wantReason: "time limit reached",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var layers []Layer
			for _, es := range tt.layers {
				layers = append(layers, gzLayer(t, es...))
			}
			scratch := t.TempDir()
			inv := mustRead(t, Options{Limits: tt.limits, ScratchDir: scratch}, layers...)
			if inv.Status != tt.wantStatus {
				t.Errorf("status %s, want %s; reasons %q", inv.Status, tt.wantStatus, inv.Reasons)
			}
			if tt.wantReason != "" && !strings.Contains(strings.Join(inv.Reasons, "\n"), tt.wantReason) {
				t.Errorf("reasons %q, want one containing %q", inv.Reasons, tt.wantReason)
			}
			var names []string
			for _, p := range inv.Packages {
				names = append(names, p.Name)
			}
			if strings.Join(names, ",") != strings.Join(tt.wantPkgs, ",") {
				t.Errorf("packages %q, want %q", names, tt.wantPkgs)
			}
			if inv.OS.ID != "" {
				t.Errorf("OS %+v read from outside the image", inv.OS)
			}
			if left, _ := os.ReadDir(scratch); len(left) != 0 {
				t.Errorf("scratch dir not cleaned: %v", left)
			}
			if left, _ := os.ReadDir(escapeDir); len(left) != 0 {
				t.Errorf("something was written through a symlink: %v", left)
			}
		})
	}
}

func TestReadBrokenStreams(t *testing.T) {
	good := gzipBytes(t, tarBytes(t, file("var/lib/dpkg/status", "Package: a\nVersion: 1\n")))
	tests := []struct {
		name       string
		blob       []byte
		wantReason string
	}{
		{"gzip header then garbage", append([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}, []byte("garbage garbage")...), "layer sha256:"},
		{"truncated gzip", good[:len(good)/2], "reading"},
		{"zstd magic then garbage", []byte{0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4, 5, 6, 7, 8}, "reading"},
		{"not a tar", []byte(strings.Repeat("not a tar archive at all ", 40)), "reading"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broken := &memLayer{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", blob: tt.blob}
			after := gzLayer(t, file("lib/apk/db/installed", "P:b\nV:2\n"))
			inv := mustRead(t, Options{}, broken, after)
			if inv.Status != StatusPartial {
				t.Fatalf("status %s, want partial", inv.Status)
			}
			if !strings.Contains(strings.Join(inv.Reasons, "\n"), tt.wantReason) {
				t.Errorf("reasons %q, want %q", inv.Reasons, tt.wantReason)
			}
			// A broken layer does not hide the layers above it.
			if len(find(inv, EcosystemAPK, "b")) != 1 {
				t.Errorf("packages of the next layer lost: %+v", inv.Packages)
			}
		})
	}
}

type failingLayer struct{}

func (failingLayer) MediaType() string     { return "application/vnd.oci.image.layer.v1.tar+gzip" }
func (failingLayer) Digest() digest.Digest { return digest.FromString("missing") }
func (failingLayer) Open(context.Context) (io.ReadCloser, error) {
	return nil, os.ErrNotExist
}

func TestReadErrors(t *testing.T) {
	t.Run("layer cannot be opened", func(t *testing.T) {
		_, err := Read(context.Background(), []Layer{failingLayer{}}, Options{ScratchDir: t.TempDir()})
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("err = %v, want os.ErrNotExist", err)
		}
	})
	t.Run("caller cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := Read(ctx, []Layer{gzLayer(t, file("a", "b"))}, Options{ScratchDir: t.TempDir()})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("scratch dir missing", func(t *testing.T) {
		_, err := Read(context.Background(), nil, Options{ScratchDir: filepath.Join(t.TempDir(), "nope")})
		if err == nil {
			t.Fatal("Read with a missing scratch dir succeeded")
		}
	})
}

// TestReadMemoryBounded reads layers far larger than what they may make the
// reader hold: an uninteresting file and an executable that is not Go,
// which is spooled to the scratch dir rather than to memory.
func TestReadMemoryBounded(t *testing.T) {
	const size = 32 << 20
	big := make([]byte, size)
	elf := append([]byte("\x7fELF"), make([]byte, size)...)
	layers := []Layer{gzLayer(t, binFile("data/blob", big)), gzLayer(t, exe("usr/bin/big", elf))}
	big, elf = nil, nil
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	inv := mustRead(t, Options{}, layers...)
	runtime.ReadMemStats(&after)
	if inv.Status != StatusComplete {
		t.Fatalf("status %s: %q", inv.Status, inv.Reasons)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Fatalf("reading %d MiB allocated %d MiB, want under 8", 2*size>>20, alloc>>20)
	}
}

// FuzzRead feeds arbitrary bytes as a layer: Read must neither fail nor
// panic, and must stay within small caps.
func FuzzRead(f *testing.F) {
	f.Add(tarBytes(f, file("var/lib/dpkg/status", dpkgStatus), whiteout("etc/.wh..wh..opq")))
	f.Add(gzipBytes(f, tarBytes(f, file("lib/apk/db/installed", "P:a\nV:1\n"), hardlink("x", "lib/apk/db/installed"))))
	f.Add(tarBytes(f, binFile("a.jar", zipBytes(f, map[string][]byte{"META-INF/maven/g/a/pom.properties": pomProps("g", "a", "1")}))))
	scratch := f.TempDir()
	f.Fuzz(func(t *testing.T, blob []byte) {
		lim := Limits{MaxUncompressedBytes: 1 << 20, MaxEntries: 1000, MaxFileSize: 64 << 10, MaxBinarySize: 256 << 10}
		inv, err := Read(context.Background(), []Layer{&memLayer{blob: blob}}, Options{Limits: lim, ScratchDir: scratch})
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if left, _ := os.ReadDir(scratch); len(left) != 0 {
			t.Fatalf("scratch dir not cleaned: %v", left)
		}
		if inv.Status == StatusComplete && len(inv.Reasons) > 0 || inv.Status == StatusPartial && len(inv.Reasons) == 0 {
			t.Fatalf("status %s with reasons %q", inv.Status, inv.Reasons)
		}
	})
}
