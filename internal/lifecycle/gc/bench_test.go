package gc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// BenchmarkMarkSweep100k collects a store of 100,000 small blobs, half of
// them referenced by manifests and half garbage:
//
//	go test -run '^$' -bench MarkSweep100k -benchtime 1x ./internal/lifecycle/gc
//
// It reports the bytes allocated by the run, the Go runtime's memory
// obtained from the OS (sys-MiB) and the process's peak resident set; the
// garbage is written again (untimed) before each iteration.
func BenchmarkMarkSweep100k(b *testing.B) {
	const total, perManifest = 100_000, 100
	e := newTestEnv(b)
	ctx := context.Background()
	repos := make([][]digest.Digest, 50)
	for i := range total / 2 {
		d := e.writeBlob(fmt.Sprintf("live-%d", i))
		if err := e.meta.LinkBlob(ctx, fmt.Sprintf("repo-%d", i%50), d, int64(len(fmt.Sprintf("live-%d", i)))); err != nil {
			b.Fatal(err)
		}
		repos[i%50] = append(repos[i%50], d)
	}
	for r, ds := range repos {
		for i := 0; i < len(ds); i += perManifest {
			e.manifest(fmt.Sprintf("repo-%d", r), fmt.Sprintf("t%d", i), ds[i:min(i+perManifest, len(ds))]...)
		}
	}
	var ms runtime.MemStats
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for i := range total / 2 {
			e.writeBlob(fmt.Sprintf("garbage-%d", i))
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		b.StartTimer()
		res, err := e.c.Run(ctx, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if res.Blobs != total/2 || res.Scanned != total {
			b.Fatalf("collected %d of %d scanned, want %d of %d", res.Blobs, res.Scanned, total/2, total)
		}
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.TotalAlloc-before)/(1<<20), "alloc-MiB")
		b.StartTimer()
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Sys)/(1<<20), "sys-MiB")
	if kib := peakRSSKiB(); kib > 0 {
		b.ReportMetric(float64(kib)/1024, "peak-rss-MiB")
	}
}

// peakRSSKiB reads the process's peak resident set (Linux VmHWM), or 0.
func peakRSSKiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// writeBlob puts content straight into the store's layout (see
// fsblob/doc.go): going through uploads would make setup, not the
// collector, the cost of the benchmark.
func (e *env) writeBlob(content string) digest.Digest {
	d := digest.FromString(content)
	enc := d.Encoded()
	dir := filepath.Join(e.dir, "blobs", "blobs", "sha256", enc[:2])
	if err := os.MkdirAll(dir, 0o750); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, enc), []byte(content), 0o640); err != nil {
		e.t.Fatal(err)
	}
	return d
}
