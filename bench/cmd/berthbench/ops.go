package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// writeRandomFile writes size pseudo-random (incompressible) bytes and
// returns their sha256 digest.
func writeRandomFile(path string, size int64) (digest.Digest, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	rng := rand.NewChaCha8([32]byte{'b', 'e', 'r', 't', 'h'})
	if _, err := io.CopyN(w, rng, size); err != nil {
		return "", err
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	return digest.NewDigest(digest.SHA256, h), f.Close()
}

// ddWrite runs dd with conv=fsync, the disk ceiling for blob writes.
func ddWrite(dir string, size int64) (float64, error) {
	p := filepath.Join(dir, "dd.bin")
	defer os.Remove(p)
	start := time.Now()
	out, err := exec.Command("dd", "if=/dev/zero", "of="+p, "bs=1M", fmt.Sprintf("count=%d", size>>20), "conv=fsync").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("dd: %v: %s", err, out)
	}
	return mbps(size, time.Since(start)), nil
}

func location(base string, resp *http.Response) (string, error) {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return "", fmt.Errorf("%s %s: no Location", resp.Request.Method, resp.Request.URL)
	}
	b, _ := url.Parse(base)
	l, err := url.Parse(loc)
	if err != nil {
		return "", err
	}
	return b.ResolveReference(l).String(), nil
}

func do(req *http.Request, want int) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: status %d, want %d", req.Method, req.URL, resp.StatusCode, want)
	}
	return resp, nil
}

// uploadBlob pushes a blob the way docker and containerd do: POST, one
// streaming PATCH, then PUT with the digest.
func uploadBlob(ctx context.Context, base, repo string, body io.Reader, size int64, d digest.Digest) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", nil)
	resp, err := do(req, http.StatusAccepted)
	if err != nil {
		return err
	}
	loc, err := location(base, resp)
	if err != nil {
		return err
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPatch, loc, body)
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	if resp, err = do(req, http.StatusAccepted); err != nil {
		return err
	}
	if loc, err = location(base, resp); err != nil {
		return err
	}
	u, _ := url.Parse(loc)
	q := u.Query()
	q.Set("digest", d.String())
	u.RawQuery = q.Encode()
	req, _ = http.NewRequestWithContext(ctx, http.MethodPut, u.String(), nil)
	_, err = do(req, http.StatusCreated)
	return err
}

func pushLayer(ctx context.Context, base, repo, path string, d digest.Digest, size int64) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	if err := uploadBlob(ctx, base, repo, f, size, d); err != nil {
		return 0, err
	}
	return mbps(size, time.Since(start)), nil
}

func pullLayer(ctx context.Context, base, repo string, d digest.Digest, size int64) (float64, error) {
	return bestOf(downloadRuns, func() (float64, error) {
		start := time.Now()
		n, err := download(ctx, base+"/v2/"+repo+"/blobs/"+d.String(), nil)
		if err != nil {
			return 0, err
		}
		if n != size {
			return 0, fmt.Errorf("pulled %d bytes, want %d", n, size)
		}
		return mbps(size, time.Since(start)), nil
	})
}

type smallPush struct {
	perSec  float64
	lastTag string
}

// pushSmallImages pushes n distinct one-layer images (1 KiB layer, config,
// manifest, each under its own tag) with a HEAD check before each blob, as
// clients do, using the given number of concurrent pushers.
func pushSmallImages(ctx context.Context, base, repo string, n, workers int) (smallPush, error) {
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := pushSmallImage(ctx, base, repo, fmt.Sprintf("img-%05d", i), rng); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if firstErr != nil {
		return smallPush{}, firstErr
	}
	return smallPush{perSec: float64(n) / time.Since(start).Seconds(), lastTag: fmt.Sprintf("img-%05d", n-1)}, nil
}

func pushSmallImage(ctx context.Context, base, repo, tag string, rng *rand.Rand) error {
	layer := make([]byte, 1024)
	for i := range layer {
		layer[i] = byte(rng.Uint32())
	}
	cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(layer)}}})
	blobs := []struct {
		b  []byte
		mt string
	}{{layer, ocispec.MediaTypeImageLayer}, {cfg, ocispec.MediaTypeImageConfig}}
	var descs []ocispec.Descriptor
	for _, bl := range blobs {
		d := digest.FromBytes(bl.b)
		req, _ := http.NewRequestWithContext(ctx, http.MethodHead, base+"/v2/"+repo+"/blobs/"+d.String(), nil)
		if _, err := do(req, http.StatusNotFound); err != nil {
			return err
		}
		if err := uploadBlob(ctx, base, repo, bytes.NewReader(bl.b), int64(len(bl.b)), d); err != nil {
			return err
		}
		descs = append(descs, ocispec.Descriptor{MediaType: bl.mt, Digest: d, Size: int64(len(bl.b))})
	}
	m, _ := json.Marshal(ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: descs[1], Layers: descs[:1]})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, base+"/v2/"+repo+"/manifests/"+tag, bytes.NewReader(m))
	req.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
	_, err := do(req, http.StatusCreated)
	return err
}

// wrkLua sends the Accept header a real client sends for a manifest GET.
const wrkLua = `wrk.headers["Accept"] = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json"
`

var (
	reRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	reP99 = regexp.MustCompile(`\s99%\s+([0-9.]+)(us|ms|s)`)
	reErr = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
)

// wrkRate runs wrk and returns requests/s and p99 latency in ms. Non-2xx
// answers make the run invalid rather than fast.
func wrkRate(wrk string, c config, target string) (float64, float64, error) {
	return wrkRateHeader(wrk, c, target, "")
}

// wrkRateHeader is wrkRate with one more request header ("Name: value").
func wrkRateHeader(wrk string, c config, target, header string) (float64, float64, error) {
	script := filepath.Join(c.work, "accept.lua")
	if err := os.WriteFile(script, []byte(wrkLua), 0o644); err != nil {
		return 0, 0, err
	}
	args := []string{"-t", strconv.Itoa(c.wrkThreads), "-c", strconv.Itoa(c.conns),
		"-d", c.duration.String(), "--latency", "-s", script}
	if header != "" {
		args = append(args, "-H", header)
	}
	out, err := exec.Command(wrk, append(args, target)...).CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("wrk: %v: %s", err, out)
	}
	s := string(out)
	if m := reErr.FindStringSubmatch(s); m != nil {
		return 0, 0, fmt.Errorf("wrk against %s: %s non-2xx responses:\n%s", target, m[1], s)
	}
	m := reRPS.FindStringSubmatch(s)
	p := reP99.FindStringSubmatch(s)
	if m == nil || p == nil {
		return 0, 0, fmt.Errorf("cannot parse wrk output:\n%s", s)
	}
	rps, _ := strconv.ParseFloat(m[1], 64)
	p99, _ := strconv.ParseFloat(p[1], 64)
	switch p[2] {
	case "us":
		p99 /= 1000
	case "s":
		p99 *= 1000
	}
	return rps, p99, nil
}

func renderReport(c config, lim limits, b, p *result) string {
	info := machineInfo()
	var sb strings.Builder
	ratio := func(x, y float64) string {
		if y == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f", x/y)
	}
	fmt.Fprintf(&sb, "# Benchmarks\n\nGenerated by `make bench` (bench/run.sh → bench/cmd/berthbench) on %s. "+
		"Both registries ran side by side on 127.0.0.1 in the same run, with default settings "+
		"(berth: `berth serve`; peer: CNCF distribution 2.8 `docker-registry`, filesystem storage, delete enabled).\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&sb, "Machine: %s CPUs (%s), %s RAM, %s, %s.\n\n", info["nproc"], info["cpu"], info["mem"], info["kernel"], info["go"])
	fmt.Fprintf(&sb, "| metric | berth | docker-registry | berth/peer | machine limit | berth/limit |\n|---|---:|---:|---:|---:|---:|\n")
	row := func(name, unit string, bv, pv, lv float64) {
		l, lr := "—", "—"
		if lv > 0 {
			l, lr = fmt.Sprintf("%.1f %s", lv, unit), ratio(bv, lv)
		}
		fmt.Fprintf(&sb, "| %s | %.1f %s | %.1f %s | %s | %s | %s |\n", name, bv, unit, pv, unit, ratio(bv, pv), l, lr)
	}
	gib := fmt.Sprintf("%d MiB", c.layerSize>>20)
	row("push "+gib+" layer (POST, PATCH, PUT)", "MB/s", b.pushMBps, p.pushMBps, lim.diskMBps)
	row("pull "+gib+" layer (best of 3)", "MB/s", b.pullMBps, p.pullMBps, lim.fileServeMBps)
	row(fmt.Sprintf("push %d small images (%d pushers)", c.images, c.pushers), "images/s", b.imagesPerSec, p.imagesPerSec, 0)
	row(fmt.Sprintf("manifest GET, %d connections", c.conns), "req/s", b.rps, p.rps, lim.staticRPS)
	row(fmt.Sprintf("manifest GET p99, %d connections", c.conns), "ms", b.p99ms, p.p99ms, lim.staticP99ms)
	row("peak RSS (VmHWM) after all runs", "MiB", b.peakRSSMiB, p.peakRSSMiB, 0)
	fmt.Fprintf(&sb, "\nMachine limits, same run: disk write+fsync %.1f MB/s (dd, %s, conv=fsync) is the limit for a push; "+
		"a plain Go `http.FileServer` download over loopback (best of 3) %.1f MB/s is the limit for a pull; a static Go handler "+
		"returning 1 KiB served %.0f req/s (p99 %.2f ms) under the same wrk load (%d threads, %d connections, %s).\n",
		lim.diskMBps, gib, lim.fileServeMBps, lim.staticRPS, lim.staticP99ms, c.wrkThreads, c.conns, c.duration)
	if p.pullMBps > lim.fileServeMBps || p.pushMBps > lim.diskMBps {
		// Say so rather than let a "limit" below a measured value pass unnoticed.
		fmt.Fprintf(&sb, "\nNote: docker-registry beat a measured machine limit in this run (push %.0f vs %.0f MB/s, pull %.0f vs %.0f MB/s), "+
			"so that limit is not a hard ceiling: the peer (built with an older Go) may take a faster copy path than the Go file server measured here.\n",
			p.pushMBps, lim.diskMBps, p.pullMBps, lim.fileServeMBps)
	}
	fmt.Fprintf(&sb, "\nRatios: berth/peer above 1 means berth is faster for throughput rows and slower for the p99 and RSS rows. "+
		"The load generator shares the %s CPUs with the server, so request rates are lower bounds.\n", info["nproc"])
	return sb.String()
}
