// Package memwatch measures the peak memory of a piece of work, for the
// scanning benchmarks (docs/benchmarks.md): the issue bounds the
// scanner's memory, and a heap size read after the work misses the peak.
package memwatch

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// heapObjects is the memory held by live and not yet swept heap objects:
// what the garbage collector lets the work hold at a time.
const heapObjects = "/memory/classes/heap/objects:bytes"

// Watch samples the heap every millisecond from Start until Stop.
type Watch struct {
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

// Start returns freed memory to the system, resets the process's peak
// resident set (Linux: clear_refs 5) and starts sampling the heap.
func Start() *Watch {
	// Hand back what the setup freed, so that the resident set starts at
	// what is live; then reset the peak (best effort: without it VmHWM is
	// the peak since the process began).
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	w := &Watch{stop: make(chan struct{}), done: make(chan struct{})}
	w.sample()
	go func() {
		defer close(w.done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				w.sample()
				return
			case <-t.C:
				w.sample()
			}
		}
	}()
	return w
}

func (w *Watch) sample() {
	s := []metrics.Sample{{Name: heapObjects}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	v := s[0].Value.Uint64()
	for {
		p := w.peak.Load()
		if v <= p || w.peak.CompareAndSwap(p, v) {
			return
		}
	}
}

// Stop ends the sampling and returns the peak heap and the peak resident
// set of the process since Start (0 where the system does not say), in
// MiB.
func (w *Watch) Stop() (heapMiB, rssMiB float64) {
	close(w.stop)
	<-w.done
	return float64(w.peak.Load()) / (1 << 20), float64(peakRSSKiB()) / 1024
}

// HeapMiB is the heap held now, after a collection.
func HeapMiB() float64 {
	runtime.GC()
	s := []metrics.Sample{{Name: heapObjects}}
	metrics.Read(s)
	return float64(s[0].Value.Uint64()) / (1 << 20)
}

// peakRSSKiB reads the process's peak resident set (Linux VmHWM), or 0.
func peakRSSKiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
