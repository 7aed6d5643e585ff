// Command berthbench measures berth against the peer registry (CNCF
// distribution's docker-registry) in one run on 127.0.0.1, next to the
// machine's own limits, and writes a markdown report.
//
// It is run by bench/run.sh (make bench), never by make test.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/berth-registry/berth/test/harness"
)

type config struct {
	berthBin   string
	out        string
	work       string
	layerSize  int64
	images     int
	pushers    int
	duration   time.Duration
	conns      int
	wrkThreads int
	mode       string // "" for the whole report, "access" for its section
	rounds     int
	accessPeer bool
}

func main() {
	var c config
	flag.StringVar(&c.berthBin, "berth", "", "path of the berth binary (required)")
	flag.StringVar(&c.out, "out", "docs/benchmarks.md", "markdown report to write")
	flag.StringVar(&c.work, "work", "", "scratch directory (default: a new temp dir, removed at the end)")
	flag.Int64Var(&c.layerSize, "layer-size", 1<<30, "size of the large layer in bytes")
	flag.IntVar(&c.images, "images", 1000, "number of small images to push")
	flag.IntVar(&c.pushers, "pushers", 8, "concurrent pushers for the small images")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "duration of each wrk run")
	flag.IntVar(&c.conns, "conns", 64, "concurrent connections for the request-rate runs")
	flag.IntVar(&c.wrkThreads, "wrk-threads", 2, "wrk threads")
	flag.StringVar(&c.mode, "mode", "", `"access": only the Access section (manifest GET with a Bearer token and network rules vs none), written into -out in place ("-" prints it)`)
	flag.IntVar(&c.rounds, "rounds", 3, "rounds of the access configurations, interleaved (-mode access)")
	flag.BoolVar(&c.accessPeer, "access-peer", false, "also measure docker-registry in the access rounds (-mode access)")
	flag.Parse()
	if c.berthBin == "" {
		log.Fatal("berthbench: -berth is required")
	}
	if err := run(context.Background(), c); err != nil {
		log.Fatal(err)
	}
}

// result holds one server's numbers.
type result struct {
	pushMBps, pullMBps float64
	imagesPerSec       float64
	rps, p99ms         float64
	peakRSSMiB         float64
}

// limits are the machine's ceilings measured in the same run.
type limits struct {
	diskMBps      float64 // dd write + fsync
	fileServeMBps float64 // net/http FileServer download over loopback
	staticRPS     float64 // static handler under the same wrk load
	staticP99ms   float64
}

func run(ctx context.Context, c config) error {
	if c.work == "" {
		d, err := os.MkdirTemp("", "berthbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		c.work = d
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return fmt.Errorf("wrk is required (scripts/install-tools.sh installs it): %w", err)
	}
	if c.mode == "access" {
		return runAccess(ctx, c, wrk)
	}

	log.Printf("generating %d MiB layer", c.layerSize>>20)
	layerPath := filepath.Join(c.work, "layer.bin")
	layerDigest, err := writeRandomFile(layerPath, c.layerSize)
	if err != nil {
		return err
	}

	loadStart := loadAvg()
	var lim limits
	log.Print("machine: dd write+fsync")
	if lim.diskMBps, err = ddWrite(c.work, c.layerSize); err != nil {
		return err
	}
	log.Print("machine: Go file server download")
	if lim.fileServeMBps, err = fileServerMBps(ctx, layerPath, c.layerSize); err != nil {
		return err
	}
	log.Print("machine: static handler under wrk")
	if lim.staticRPS, lim.staticP99ms, err = staticHandlerRate(wrk, c); err != nil {
		return err
	}

	servers := map[string]*harness.Server{}
	for _, kind := range []string{harness.TargetBerth, harness.TargetPeer} {
		s, err := harness.StartServer(ctx, harness.Options{Kind: kind, BerthBin: c.berthBin,
			DataDir: filepath.Join(c.work, kind, "data"), LogDir: filepath.Join(c.work, kind)})
		if err != nil {
			return err
		}
		defer s.Stop()
		servers[kind] = s
		log.Printf("%s on %s (pid %d)", kind, s.Addr, s.PID())
	}

	results := map[string]*result{}
	for _, kind := range []string{harness.TargetBerth, harness.TargetPeer} {
		s := servers[kind]
		r := &result{}
		results[kind] = r
		log.Printf("%s: push %d MiB layer", kind, c.layerSize>>20)
		if r.pushMBps, err = pushLayer(ctx, s.URL(), "bench/large", layerPath, layerDigest, c.layerSize); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		log.Printf("%s: pull %d MiB layer", kind, c.layerSize>>20)
		if r.pullMBps, err = pullLayer(ctx, s.URL(), "bench/large", layerDigest, c.layerSize); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		log.Printf("%s: push %d small images", kind, c.images)
		tag, err := pushSmallImages(ctx, s.URL(), "bench/small", c.images, c.pushers)
		if err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		r.imagesPerSec = tag.perSec
		log.Printf("%s: manifest GET under wrk", kind)
		url := s.URL() + "/v2/bench/small/manifests/" + tag.lastTag
		if r.rps, r.p99ms, err = wrkRate(wrk, c, url); err != nil {
			return fmt.Errorf("%s: %w", kind, err)
		}
		if r.peakRSSMiB, err = peakRSS(s.PID()); err != nil {
			return err
		}
	}
	report := renderReport(c, lim, results[harness.TargetBerth], results[harness.TargetPeer])
	// Other work on the machine skews every number; the load average tells
	// a reader how quiet the run was.
	report += fmt.Sprintf("\nLoad average (1/5/15 min) at start: %s; at end: %s. Numbers from runs with a load well above the CPU count are noisy; compare ratios from the same run.\n", loadStart, loadAvg())
	if err := os.WriteFile(c.out, []byte(report), 0o644); err != nil {
		return err
	}
	fmt.Print(report)
	return nil
}

// fileServerMBps serves the layer with net/http.FileServer on loopback and
// downloads it once: the ceiling for any Go HTTP blob download here.
func fileServerMBps(ctx context.Context, path string, size int64) (float64, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(filepath.Dir(path)))}
	go srv.Serve(l)
	defer srv.Close()
	return bestOf(downloadRuns, func() (float64, error) {
		start := time.Now()
		n, err := download(ctx, "http://"+l.Addr().String()+"/"+filepath.Base(path), nil)
		if err != nil {
			return 0, err
		}
		if n != size {
			return 0, fmt.Errorf("file server sent %d bytes, want %d", n, size)
		}
		return mbps(size, time.Since(start)), nil
	})
}

// downloadRuns is how often a download is repeated: one run on a shared
// 2-core machine is too noisy, and downloads are cheap to repeat.
const downloadRuns = 3

// bestOf runs f n times and returns the highest result.
func bestOf(n int, f func() (float64, error)) (float64, error) {
	best := 0.0
	for range n {
		v, err := f()
		if err != nil {
			return 0, err
		}
		best = max(best, v)
	}
	return best, nil
}

// staticHandlerRate measures a handler that writes a fixed manifest-sized
// body: the ceiling for manifest GETs through net/http on this machine.
func staticHandlerRate(wrk string, c config) (float64, float64, error) {
	body := []byte(strings.Repeat("x", 1024))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Write(body)
	})}
	go srv.Serve(l)
	defer srv.Close()
	return wrkRate(wrk, c, "http://"+l.Addr().String()+"/v2/static/manifests/latest")
}

func peakRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%f kB", &kb); err != nil {
				return 0, fmt.Errorf("parsing VmHWM %q: %w", line, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

func download(ctx context.Context, url string, hdr http.Header) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	return io.Copy(io.Discard, resp.Body)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func machineInfo() map[string]string {
	info := map[string]string{"nproc": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				info["cpu"] = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		info["mem"] = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		info["kernel"] = strings.TrimSpace(string(out))
	}
	return info
}
