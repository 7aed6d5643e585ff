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

	"github.com/berth-registry/berth/internal/metadata"
)

// BenchmarkMarkSweep100k collects a store of 100,000 small blobs, half of
// them referenced by manifests and half garbage, alone ("idle") and while
// four goroutines keep pushing ("with-pushes": store, link as the registry
// does, manifest):
//
//	go test -run '^$' -bench MarkSweep100k -benchtime 1x ./internal/lifecycle/gc
//
// It reports the bytes allocated by the run, the Go runtime's memory
// obtained from the OS (sys-MiB), the process's peak resident set, and the
// pushes acknowledged during the run; every acknowledged push is checked
// to be intact afterwards. The garbage is written again (untimed) before
// each iteration.
func BenchmarkMarkSweep100k(b *testing.B) {
	for _, pushers := range []int{0, 4} {
		name := "idle"
		if pushers > 0 {
			name = "with-pushes"
		}
		b.Run(name, func(b *testing.B) { benchMarkSweep(b, pushers) })
	}
}

func benchMarkSweep(b *testing.B, pushers int) {
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
	var (
		ms    runtime.MemStats
		acked []digest.Digest
		round int
	)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		round++
		for i := range total / 2 {
			e.writeBlob(fmt.Sprintf("garbage-%d", i))
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		stop := make(chan struct{})
		got := make(chan []digest.Digest, pushers)
		for p := range pushers {
			go func() { got <- e.pushUntil(stop, fmt.Sprintf("push-%d-%d", round, p)) }()
		}
		b.StartTimer()
		res, err := e.c.Run(ctx, Options{})
		b.StopTimer()
		close(stop)
		for range pushers {
			acked = append(acked, <-got...)
		}
		if err != nil {
			b.Fatal(err)
		}
		if res.Blobs != total/2 {
			b.Fatalf("collected %d of %d scanned, want %d", res.Blobs, res.Scanned, total/2)
		}
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.TotalAlloc-before)/(1<<20), "alloc-MiB")
		b.StartTimer()
	}
	b.StopTimer()
	for _, d := range acked {
		if !e.exists(d) {
			b.Fatalf("blob %s of an acknowledged push is gone", d)
		}
	}
	if pushers > 0 {
		b.ReportMetric(float64(len(acked))/float64(b.N), "pushes/op")
	}
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.Sys)/(1<<20), "sys-MiB")
	if kib := peakRSSKiB(); kib > 0 {
		b.ReportMetric(float64(kib)/1024, "peak-rss-MiB")
	}
}

// pushUntil pushes one-blob images into repo until stop closes, as the
// registry does: store the bytes, link them with the bytes re-checked in
// the linking transaction, put the manifest. It returns the blobs of the
// pushes that succeeded; one that lost its blob to the collector (a grace
// period of zero makes that possible) is not acknowledged and is retried,
// as a client would.
func (e *env) pushUntil(stop <-chan struct{}, repo string) []digest.Digest {
	ctx := context.Background()
	var acked []digest.Digest
	for i := 0; ; i++ {
		select {
		case <-stop:
			return acked
		default:
		}
		content := fmt.Sprintf("%s-layer-%d", repo, i)
		d := e.writeBlob(content)
		err := e.meta.LinkBlobChecked(ctx, repo, d, int64(len(content)), func(ctx context.Context) error {
			_, err := e.blobs.Stat(ctx, d)
			return err
		})
		if err != nil {
			continue
		}
		body := []byte(fmt.Sprintf(`{"tag":"%s-%d"}`, repo, i))
		m := &metadata.Manifest{Repo: repo, Digest: digest.FromBytes(body), MediaType: "application/vnd.oci.image.manifest.v1+json",
			Size: int64(len(body)), Content: body, Blobs: []digest.Digest{d}}
		if err := e.meta.PutManifest(ctx, m, []string{fmt.Sprint("t", i)}); err == nil {
			acked = append(acked, d)
		}
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
