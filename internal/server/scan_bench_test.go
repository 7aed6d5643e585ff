package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/metadata"
)

// BenchmarkScanOnPush measures a push of a ~50 MB image (incompressible
// files beside a dpkg database and a Go binary) to a finished scan: the
// upload, the relay, the queue, the inventory of every layer byte and the
// match. Each iteration pushes new content, so nothing is shared.
func BenchmarkScanOnPush(b *testing.B) {
	app := oldGoApp(b)
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = b.TempDir()
	cfg.Scan.DB = "../scan/vulndb/testdata/go"
	s := New(cfg, nil)
	ctx, cancel := context.WithCancel(b.Context())
	if err := s.Open(ctx); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	base := s.URL()
	base0 := gzLayer(b, map[string][]byte{"etc/os-release": []byte(scanOSRelease), "var/lib/dpkg/status": []byte(scanDpkgStatus)})
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		files := map[string][]byte{"usr/local/bin/oldapp": app}
		for j := range 6 {
			data := make([]byte, 8<<20)
			rand.Read(data)
			files[fmt.Sprintf("opt/data/%d.bin", j)] = data
		}
		big := gzLayer(b, files)
		b.SetBytes(int64(len(big) + len(base0)))
		b.StartTimer()
		d := pushScanImage(b, base, "bench/app", fmt.Sprint("v", i), base0, big)
		if r := waitScan(b, base, "bench/app", d); r.Status != metadata.ScanComplete || len(r.Findings) == 0 {
			b.Fatalf("scan = %s with %d findings", r.Status, len(r.Findings))
		}
	}
}
