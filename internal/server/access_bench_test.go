package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/remote"
)

// BenchmarkManifestGETAccess is the manifest GET of the access benchmark
// (bench/access.sh) in process, without the network: what access control
// adds to the server's own work per request, and its allocations.
func BenchmarkManifestGETAccess(b *testing.B) {
	rules := func(c *config.Config) {
		c.Network.DefaultAction = "deny"
		c.Network.Allow = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,2001:db8::/32,127.0.0.0/8"
		c.Network.Deny = "10.66.0.0/16,192.168.99.0/24,127.0.0.99"
	}
	for _, tt := range []struct {
		name  string
		auth  bool
		rules bool
	}{
		{"unauthenticated", false, false},
		{"network_rules", false, true},
		{"bearer", true, false},
		{"bearer_and_rules", true, true},
	} {
		b.Run(tt.name, func(b *testing.B) {
			cfg := config.Default()
			cfg.Listen, cfg.DataDir = "127.0.0.1:0", b.TempDir()
			if tt.rules {
				rules(&cfg)
			}
			cfg.Auth.Enabled = tt.auth
			s := New(cfg, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := s.Open(ctx); err != nil {
				b.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx) }()
			defer func() { cancel(); <-done }()
			var cred remote.Credential
			if tt.auth {
				pw, _ := os.ReadFile(filepath.Join(cfg.DataDir, adminPasswordFile))
				cred = remote.Credential{Username: "admin", Password: strings.TrimSpace(string(pw))}
			}
			rc, err := remote.New(s.URL(), remote.Options{Credential: cred})
			if err != nil {
				b.Fatal(err)
			}
			layer, err := rc.PushBlob(ctx, "bench/small", []byte("layer"))
			if err != nil {
				b.Fatal(err)
			}
			cfgBlob, err := rc.PushBlob(ctx, "bench/small", []byte("{}"))
			if err != nil {
				b.Fatal(err)
			}
			m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
				`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},`+
				`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":5}]}`, cfgBlob, layer)
			if _, err := rc.PushManifest(ctx, "bench/small", "v1", "application/vnd.oci.image.manifest.v1+json", []byte(m)); err != nil {
				b.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/v2/bench/small/manifests/v1", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
			if tt.auth {
				treq, _ := http.NewRequest(http.MethodGet, s.URL()+"/token?service=berth&scope=repository:bench/small:pull", nil)
				treq.SetBasicAuth(cred.Username, cred.Password)
				resp, err := http.DefaultClient.Do(treq)
				if err != nil {
					b.Fatal(err)
				}
				var tr struct{ Token string }
				err = json.NewDecoder(resp.Body).Decode(&tr)
				resp.Body.Close()
				if err != nil || tr.Token == "" {
					b.Fatalf("token: %v", err)
				}
				req.Header.Set("Authorization", "Bearer "+tr.Token)
			}
			h := s.http.Handler
			b.ReportAllocs()
			// CPU time rather than wall time: on a shared machine it is
			// what tells the configurations apart.
			var before, after syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			n := 0
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%d %s", w.Code, w.Body)
				}
				n++
			}
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
			b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/op")
		})
	}
}
