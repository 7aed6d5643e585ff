package inventory

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/scan/internal/memwatch"
)

// realisticStatus is a dpkg status file of n packages with the fields and
// description lengths of a Debian base image.
func realisticStatus(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Package: pkg%d\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: %d\n", i, 100+i)
		fmt.Fprintf(&b, "Maintainer: Debian Maintainers <maint%d@lists.debian.org>\nArchitecture: amd64\nMulti-Arch: same\n", i)
		if i%3 == 0 {
			fmt.Fprintf(&b, "Source: src%d (1.%d-1)\n", i, i)
		}
		fmt.Fprintf(&b, "Version: 1.%d-1+deb12u1\nDepends: libc6 (>= 2.34), libgcc-s1 (>= 3.0)\n", i)
		fmt.Fprintf(&b, "Description: package number %d\n", i)
		for range 6 {
			b.WriteString(" A long description line of a package in a Debian status file, as real ones have.\n")
		}
		b.WriteString("Homepage: https://example.org/\n\n")
	}
	return b.String()
}

// syntheticImage is about 50 MB uncompressed over three gzip layers: a base
// with dpkg and many ordinary files and ELF libraries, an application layer
// with Python and npm packages, and a layer of whiteouts.
func syntheticImage(b *testing.B) ([]Layer, int64) {
	r := rand.New(rand.NewSource(1))
	// Half-random content compresses like real binaries (about 2:1).
	blob := func(n int) []byte {
		p := make([]byte, n)
		for i := 0; i < n; i += 2 {
			p[i] = byte(r.Intn(256))
		}
		return p
	}
	var total int64
	base := []entry{file("etc/os-release", debianOSRelease), file("var/lib/dpkg/status", realisticStatus(100))}
	for i := range 1500 {
		base = append(base, binFile(fmt.Sprintf("usr/share/doc/pkg%d/copyright", i), blob(8<<10)))
	}
	for i := range 120 {
		lib := append([]byte("\x7fELF"), blob(200<<10)...)
		base = append(base, exe(fmt.Sprintf("usr/lib/x86_64-linux-gnu/lib%d.so.1", i), lib))
	}
	app := []entry{}
	for i := range 200 {
		app = append(app,
			file(fmt.Sprintf("usr/lib/python3/dist-packages/mod%d-1.%d.dist-info/METADATA", i, i), fmt.Sprintf("Metadata-Version: 2.1\nName: mod%d\nVersion: 1.%d\n\n%s", i, i, strings.Repeat("long description\n", 50))),
			file(fmt.Sprintf("app/node_modules/dep%d/package.json", i), fmt.Sprintf(`{"name":"dep%d","version":"2.%d.0","description":"%s"}`, i, i, strings.Repeat("x", 500))),
			binFile(fmt.Sprintf("app/node_modules/dep%d/index.js", i), blob(20<<10)),
		)
	}
	upper := []entry{whiteout("usr/share/doc/.wh.pkg1"), whiteout("app/node_modules/.wh.dep3")}
	var layers []Layer
	for _, es := range [][]entry{base, app, upper} {
		for _, e := range es {
			total += int64(len(e.body))
		}
		layers = append(layers, gzLayer(b, es...))
	}
	return layers, total
}

func BenchmarkRead(b *testing.B) {
	layers, total := syntheticImage(b)
	scratch := b.TempDir()
	b.SetBytes(total)
	b.ReportAllocs()
	base := memwatch.HeapMiB()
	w := memwatch.Start()
	b.ResetTimer()
	for b.Loop() {
		inv, err := Read(context.Background(), layers, Options{ScratchDir: scratch})
		if err != nil {
			b.Fatal(err)
		}
		if inv.Status != StatusComplete || len(inv.Packages) != 100+200+199 {
			b.Fatalf("status %s, %d packages, reasons %q", inv.Status, len(inv.Packages), inv.Reasons)
		}
	}
	b.StopTimer()
	// The issue bounds the scanner's memory: the peak heap of the reads
	// above the image fixture already in memory, and the peak resident
	// set of the whole test process.
	heap, rss := w.Stop()
	b.ReportMetric(heap-base, "MiB-peak-heap")
	b.ReportMetric(rss, "MiB-peak-rss")
}
