package match

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/scan/internal/memwatch"
	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/vulndb"
)

// The benchmark's shape: the target is re-matching 10,000 stored
// inventories of ~100 packages against 100,000 advisories in under 10 s.
// Advisories are skewed the way real data is: Debian source packages carry
// many advisories each (openssl, linux, glibc have hundreds), language
// packages one or two.
const (
	benchDebSources = 2_000 // × 30 advisories = 60,000
	benchDebPerSrc  = 30
	benchLangNames  = 20_000 // × 2 advisories each over npm, Go, PyPI = 40,000
	benchInventory  = 10_000
	benchPackages   = 100
)

func benchDB(tb testing.TB) *vulndb.DB {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	b := vulndb.NewBuilder(vulndb.Limits{})
	add := func(id, eco, name string, events []map[string]string) {
		doc := map[string]any{
			"id": id, "modified": "2024-01-01T00:00:00Z", "summary": "synthetic advisory " + id,
			"aliases":  []string{"CVE-" + id},
			"severity": []map[string]string{{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H"}},
			"affected": []map[string]any{{"package": map[string]string{"ecosystem": eco, "name": name},
				"ranges": []map[string]any{{"type": "ECOSYSTEM", "events": events}}}},
		}
		data, err := json.Marshal(doc)
		if err != nil {
			tb.Fatal(err)
		}
		b.Add("synthetic", id, data)
	}
	n := 0
	for s := range benchDebSources {
		for range benchDebPerSrc {
			n++
			ev := []map[string]string{{"introduced": "0"}}
			if rng.IntN(20) > 0 { // one in twenty unfixed
				ev = append(ev, map[string]string{"fixed": fmt.Sprintf("1:1.%d.%d-%d+deb12u1", rng.IntN(16), rng.IntN(10), rng.IntN(3))})
			}
			add(fmt.Sprintf("DEB-%d", n), "Debian:12", fmt.Sprintf("src%d", s), ev)
		}
	}
	ecos := []string{"npm", "Go", "PyPI"}
	for i := range benchLangNames {
		for range 2 {
			n++
			eco := ecos[i%3]
			fix := fmt.Sprintf("%d.%d.0", 1+rng.IntN(3), rng.IntN(20))
			add(fmt.Sprintf("LANG-%d", n), eco, fmt.Sprintf("example.com/lang%d", i), []map[string]string{{"introduced": "0"}, {"fixed": fix}})
		}
	}
	return b.Build()
}

func benchInventories(n int) []*inventory.Inventory { return benchInventoriesSeed(n, 4) }

// benchInventoriesSeed is n synthetic inventories from the given seed: a
// page of them, for BenchmarkRematchPaged.
func benchInventoriesSeed(n int, seed uint64) []*inventory.Inventory {
	rng := rand.New(rand.NewPCG(3, seed))
	ecos := []inventory.Ecosystem{inventory.EcosystemNPM, inventory.EcosystemGo, inventory.EcosystemPyPI}
	out := make([]*inventory.Inventory, n)
	for i := range out {
		in := &inventory.Inventory{OS: inventory.OS{ID: "debian", VersionID: "12"}, Status: inventory.StatusComplete}
		for j := range benchPackages {
			var p inventory.Package
			if j < 60 {
				// Installed versions are mostly newer than the fixes, as
				// in a maintained image: ~200 findings per image, most of
				// them unfixed, like a real Debian 12 image.
				v := fmt.Sprintf("1:1.%d.%d-%d", 12+rng.IntN(8), rng.IntN(10), rng.IntN(3))
				src := fmt.Sprintf("src%d", rng.IntN(benchDebSources))
				p = inventory.Package{Name: "lib" + src, Version: v, SourceName: src, SourceVersion: v, Ecosystem: inventory.EcosystemDeb}
			} else {
				k := rng.IntN(benchLangNames)
				v := fmt.Sprintf("%d.%d.%d", 1+rng.IntN(3), rng.IntN(20), rng.IntN(5))
				if ecos[k%3] == inventory.EcosystemGo {
					v = "v" + v
				}
				p = inventory.Package{Name: fmt.Sprintf("example.com/lang%d", k), Version: v, Ecosystem: ecos[k%3]}
			}
			p.PURL = "pkg:" + string(p.Ecosystem) + "/" + p.Name + "@" + p.Version
			in.Packages = append(in.Packages, p)
		}
		out[i] = in
	}
	return out
}

// BenchmarkRematch re-matches every stored inventory against a fresh
// snapshot, as a database update does; one Matcher per snapshot, so compiling
// the advisories is part of the measured cost. "parallel" shares the Matcher
// between GOMAXPROCS workers, as the server's re-match job does.
func BenchmarkRematch(b *testing.B) {
	heap := func() float64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapAlloc) / (1 << 20)
	}
	base := heap()
	db := benchDB(b)
	dbMiB := heap() - base
	invs := benchInventories(benchInventory)
	// The server holds 100 stored inventories at a time, not 10,000: the
	// fixture's share is taken out of the peak below.
	invMiB := heap() - base - dbMiB
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			var findings atomic.Int64
			var peak uint64
			w := memwatch.Start()
			cpu0 := cpuTime()
			for range b.N {
				m := New(db)
				findings.Store(0)
				var wg sync.WaitGroup
				next := atomic.Int64{}
				for range workers {
					wg.Go(func() {
						for {
							i := next.Add(1) - 1
							if i >= int64(len(invs)) {
								return
							}
							findings.Add(int64(len(m.Run(invs[i]).Findings)))
						}
					})
				}
				wg.Wait()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapSys)
			}
			// CPU seconds of the whole process (GC included) per op: the
			// machine is shared, so wall time alone says little.
			b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
			b.ReportMetric(float64(findings.Load()), "findings")
			b.ReportMetric(dbMiB, "MiB-db")
			b.ReportMetric(float64(peak)/(1<<20), "MiB-heap-sys")
			// Peak live heap while matching, less the inventories fixture:
			// the snapshot plus the matcher's working memory, what a
			// server's rematch holds (its pages of 25 stored scans aside).
			peakHeap, rss := w.Stop()
			b.ReportMetric(peakHeap-base-invMiB, "MiB-peak-heap")
			b.ReportMetric(invMiB, "MiB-fixture")
			b.ReportMetric(rss, "MiB-peak-rss")
		})
	}
	runtime.KeepAlive(invs)
}

// BenchmarkRematchPaged is the rematch as a server runs it, for its
// memory: the 100,000-advisory snapshot and one Matcher in memory, the
// 10,000 inventories coming 100 at a time (the server reads pages of 25
// stored scans; here they are generated, which costs about what decoding
// them does). It reports the peak heap of the whole process and
// its peak resident set while matching (the target: under
// 200 MiB), one worker.
func BenchmarkRematchPaged(b *testing.B) {
	db := benchDB(b)
	w := memwatch.Start()
	cpu0 := cpuTime()
	var findings int
	for range b.N {
		m := New(db)
		findings = 0
		for page := range benchInventory / 100 {
			for _, in := range benchInventoriesSeed(100, uint64(page)) {
				findings += len(m.Run(in).Findings)
			}
		}
	}
	heap, rss := w.Stop()
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(float64(findings), "findings")
	b.ReportMetric(heap, "MiB-peak-heap")
	b.ReportMetric(rss, "MiB-peak-rss")
	runtime.KeepAlive(db)
}

// TestSyntheticLoad checks the benchmark's synthetic data on a small
// share, so that BenchmarkRematch measures the load it claims: a realistic
// number of findings per image. Timing is the benchmark's job, not a test's.
func TestSyntheticLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-advisory database")
	}
	db := benchDB(t)
	if db.Len() != benchDebSources*benchDebPerSrc+2*benchLangNames {
		t.Fatalf("synthetic database has %d advisories", db.Len())
	}
	invs := benchInventories(50)
	m := New(db)
	var findings int
	for _, in := range invs {
		findings += len(m.Run(in).Findings)
	}
	if per := findings / len(invs); per < 50 || per > 1000 {
		t.Fatalf("%d findings per inventory: the synthetic load is off", per)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
